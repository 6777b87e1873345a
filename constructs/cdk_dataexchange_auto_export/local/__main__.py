"""`python -m cdk_dataexchange_auto_export.local`: the `dataexchange-local` command."""

import sys
from pathlib import Path

from .cli import main


def _prog() -> str:
    """This command as it can be run again: this interpreter, by a path relative to the working folder if it lies
    under it (a project's venv)."""
    python = Path(sys.executable)
    shown = python.relative_to(Path.cwd()) if python.is_relative_to(Path.cwd()) else python
    return f"{shown} -m cdk_dataexchange_auto_export.local"


sys.exit(main(prog=_prog()))
