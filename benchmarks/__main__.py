"""`python -m benchmarks [--runs N] [--quick] [--with-tests]`: writes BENCHMARKS.md and benchmarks/chart.png."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from cdk_dataexchange_auto_export.local.assembly import AssemblyError
from cdk_dataexchange_auto_export.local.cloudformation import LifecycleError
from cdk_dataexchange_auto_export.local.lambda_runtime import InvocationTimeoutError
from tools.toolchain import LAMBDA_PYTHON, REPO, cdk_command, cdk_environment

from . import BenchmarkError
from .backfill import QUICK_SEEDED, SEEDED, run_backfill_benchmark
from .backfill_time import QUICK_RUNS, RUNS
from .measure import run_handler_benchmark, run_synth_benchmark
from .report import render, write_chart
from .targets import SuiteResult, evaluate

MARKDOWN, CHART = REPO / "BENCHMARKS.md", REPO / "benchmarks" / "chart.png"
PACKAGES = ("aws-cdk-lib", "constructs", "jsii", "boto3", "botocore", "crhelper")
FAILURES = (BenchmarkError, AssemblyError, LifecycleError, InvocationTimeoutError, subprocess.CalledProcessError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per cell and handler rounds (default: %(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"one run per cell, N = 1 and 10 only (overrides --runs), a backfill of {QUICK_SEEDED:,} revisions, "
        f"not {SEEDED:,}, and backfills in virtual time of {QUICK_RUNS[0][0]:,} revisions only",
    )
    parser.add_argument("--with-tests", action="store_true", help="also time the test suite (python -m pytest -q)")
    arguments = parser.parse_args(argv)
    runs, counts = (1, (1, 10)) if arguments.quick else (max(arguments.runs, 1), (1, 10, 100))
    seeded = QUICK_SEEDED if arguments.quick else SEEDED
    started = time.perf_counter()

    def progress(step: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {step}", flush=True)

    try:
        if not LAMBDA_PYTHON.exists():
            raise BenchmarkError(f"{LAMBDA_PYTHON} is missing: run `make setup`")
        machine = describe_machine()
        print("\n".join(f"{name}: {value}" for name, value in machine.items()))
        with tempfile.TemporaryDirectory(prefix="benchmarks-") as workdir:
            synth = run_synth_benchmark(counts, runs, Path(workdir), progress)
            handler = run_handler_benchmark(synth.ours_assembly, runs, progress)
            chains = QUICK_RUNS if arguments.quick else RUNS
            backfill = run_backfill_benchmark(seeded, runs, chains, Path(workdir), progress)
        suite = run_test_suite(progress) if arguments.with_tests else None
    except FAILURES as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    targets = evaluate(synth, handler, backfill, suite)
    write_chart(synth, CHART)
    seconds = time.perf_counter() - started
    command = " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])
    chart = str(CHART.relative_to(REPO))
    MARKDOWN.write_text(render(command, seconds, machine, synth, handler, backfill, suite, targets, chart))
    print("\n" + "\n".join(target.replace("|", " | ") for target in targets))
    print(f"\nWrote {MARKDOWN.relative_to(REPO)} and {CHART.relative_to(REPO)} in {seconds / 60:.1f} min")
    return 0


def describe_machine() -> dict[str, str]:
    """The machine and toolchain the figures are measured on."""
    cpu = re.search(r"^model name\s*: (.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    probe = "import sys, boto3; print(sys.version.split()[0], boto3.__version__)"
    lambda_python, lambda_boto3 = _output([str(LAMBDA_PYTHON), "-I", "-c", probe]).split()
    return {
        "Date (UTC)": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "CPUs": str(os.cpu_count()),
        "CPU model": cpu[1] if cpu else "unknown",
        "Load average at start (1, 5, 15 min)": ", ".join(f"{load:.2f}" for load in os.getloadavg()),
        "System": platform.platform(),
        "Python (synth)": platform.python_version(),
        "Python (Lambda-like, .venv-lambda)": lambda_python,
        "Node": _output(["node", "--version"]),
        "CDK CLI": _output(cdk_command("--version")),
        **{name: metadata.version(name) for name in PACKAGES},
        "boto3 (.venv-lambda)": lambda_boto3,
    }


def run_test_suite(progress: Callable[[str], None]) -> SuiteResult:
    progress("test suite: python -m pytest -q")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=REPO, capture_output=True, text=True)
    lines = [line.strip("= ") for line in result.stdout.splitlines() if line.strip()]
    return SuiteResult(time.perf_counter() - started, result.returncode == 0, (lines or ["no output"])[-1])


def _output(command: list[str]) -> str:
    """The first line that `command` prints, run quietly."""
    result = subprocess.run(command, cwd=REPO, env=cdk_environment(), capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
