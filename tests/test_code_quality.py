"""ruff and mypy are part of the tests, so CI fails on a lint or type error like on any other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.toolchain import REPO

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    result = run(str(BIN / "ruff"), "check", ".")

    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_everything_as_it_is() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", ".")

    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    # Config in pyproject.toml: strict, with constructs/ and lambda/ as source roots.
    result = run(
        str(BIN / "mypy"),
        "constructs/cdk_dataexchange_auto_export",
        "lambda/dataexchange_auto_export_handler",
        "benchmarks",
        "tools",
        "app.py",
        # Type checks of the constructors' keywords, as a user's IDE makes them.
        "tests/test_construct_props.py",
    )

    assert result.returncode == 0, result.stdout + result.stderr
