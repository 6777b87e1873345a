"""Builds the handler's Lambda asset as the wheel ships it: the handler package, the crhelper release vendored in it
(with its licence), and the bundled API model, laid out as the Lambda runtime imports them. Nothing of the
building interpreter goes in (no bytecode, no type stubs), and every file's bytes are the source's, so the asset
hash is the same wherever it is built.

`python -m tools.asset` (run by `make`) writes it into the construct's source tree; `setup.py` writes it into the
wheel. Standard library only: setuptools imports it while building.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDLER = REPO / "lambda" / "dataexchange_auto_export_handler"
# Where the construct reads it from (constructs/cdk_dataexchange_auto_export/_asset.py).
ASSET = REPO / "constructs" / "cdk_dataexchange_auto_export" / "lambda_asset"
VENDORED = "_vendor"
# What the runtime has no use for: bytecode of the building machine's Python, and type stubs.
NOT_RUNTIME = ("__pycache__", "*.pyc", "*.pyi", "py.typed")


def build(handler: Path, asset: Path) -> None:
    """Writes the asset of the handler package at `handler` into `asset`, replacing what was there."""
    if asset.exists():
        shutil.rmtree(asset)
    shutil.copytree(handler, asset / handler.name, ignore=shutil.ignore_patterns(*NOT_RUNTIME, VENDORED))
    shutil.copytree(handler / VENDORED / "crhelper", asset / "crhelper", ignore=shutil.ignore_patterns(*NOT_RUNTIME))
    # crhelper is Apache-2.0: its licence travels with the copy.
    for notice in ("LICENSE", "NOTICE"):
        shutil.copyfile(handler / VENDORED / notice, asset / f"crhelper-{notice}")


def files(folder: Path) -> dict[str, bytes]:
    """Every file below `folder`, by its relative path."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def differences(left: Path, right: Path) -> list[str]:
    """The relative paths of files that are in one folder and not the other, or whose bytes differ."""
    ours, theirs = files(left), files(right)
    return sorted(name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name))


def main() -> int:
    build(HANDLER, ASSET)
    print(f"Built {ASSET.relative_to(REPO)} from {HANDLER.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
