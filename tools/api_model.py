"""Copies the Data Exchange API model the handler bundles from the botocore the Lambda-like runtime pins, less its
`documentation` strings: botocore needs none of them to call the API, and they are two thirds of the model, which
the asset carries to every function. `python -m tools.api_model` after moving requirements-lambda.txt's botocore.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.asset import HANDLER
from tools.toolchain import LAMBDA_PYTHON

MODEL = "dataexchange/2017-07-25"
BUNDLED = HANDLER / "botocore_data" / MODEL


def without_documentation(node: Any) -> Any:
    """The model with every `documentation` member removed, at any depth."""
    if isinstance(node, dict):
        return {key: without_documentation(value) for key, value in node.items() if key != "documentation"}
    if isinstance(node, list):
        return [without_documentation(value) for value in node]
    return node


def pinned_model() -> Path:
    """The model folder of the botocore in the Lambda-like runtime (.venv-lambda, requirements-lambda.txt)."""
    where = subprocess.run(
        [str(LAMBDA_PYTHON), "-I", "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(where) / "data" / MODEL


def bundled_service(folder: Path = BUNDLED) -> Any:
    return json.loads(gzip.decompress((folder / "service-2.json.gz").read_bytes()))


def main() -> int:
    pinned = pinned_model()
    service = without_documentation(json.loads(gzip.decompress((pinned / "service-2.json.gz").read_bytes())))
    # mtime=0: the same bytes, and so the same asset hash, whenever it is written.
    compact = json.dumps(service, separators=(",", ":"), sort_keys=True).encode()
    (BUNDLED / "service-2.json.gz").write_bytes(gzip.compress(compact, mtime=0))
    shutil.copyfile(pinned / "paginators-1.json", BUNDLED / "paginators-1.json")
    print(f"Bundled {MODEL} from {pinned}, without documentation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
