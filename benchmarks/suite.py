"""The test suite's wall time, as a developer runs it (only with --with-tests: it takes minutes)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from . import REPO
from .synth import synth_environment


@dataclass(frozen=True)
class SuiteResult:
    seconds: float
    passed: bool
    summary: str


def run_test_suite() -> SuiteResult:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=REPO,
        env=synth_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    lines = [line.strip("= ") for line in result.stdout.splitlines() if line.strip()]
    return SuiteResult(seconds, result.returncode == 0, lines[-1] if lines else "no output")
