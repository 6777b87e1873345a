"""setuptools reads the project from pyproject.toml; this adds the handler's Lambda asset to what it builds."""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).parent))
# The project's own tools/, beside this file (in an sdist too: MANIFEST.in).
from tools.asset import build


class BuildPyWithAsset(build_py):
    """Lays out the handler's asset inside the construct package, from the handler package being built."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            built = Path(self.build_lib)
            build(built / "dataexchange_auto_export_handler", built / "cdk_dataexchange_auto_export" / "lambda_asset")


setup(cmdclass={"build_py": BuildPyWithAsset})
