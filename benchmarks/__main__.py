"""`python -m benchmarks [--runs N] [--quick] [--with-tests]`: writes BENCHMARKS.md and benchmarks/chart.png."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import REPO, BenchmarkError
from .chart import write_chart
from .handler import run_handler_benchmark
from .machine import describe_machine
from .report import Report, render
from .suite import run_test_suite
from .synth import run_synth_benchmark
from .targets import evaluate

COUNTS = (1, 10, 100)
QUICK_COUNTS = (1, 10)
DEFAULT_RUNS = 5
MARKDOWN = REPO / "BENCHMARKS.md"
CHART = REPO / "benchmarks" / "chart.png"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--runs", type=_positive, default=DEFAULT_RUNS, help="runs per cell and handler rounds (default: %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: one run per cell, N = 1 and 10 only (overrides --runs)"
    )
    parser.add_argument("--with-tests", action="store_true", help="also time the test suite (python -m pytest -q)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _progress(started: float) -> Callable[[str], None]:
    def report(step: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {step}", flush=True)

    return report


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    runs, counts = (1, QUICK_COUNTS) if arguments.quick else (arguments.runs, COUNTS)
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]).strip()
    started = time.perf_counter()
    progress = _progress(started)
    try:
        machine = describe_machine()
        for name, value in machine.rows():
            print(f"{name}: {value}")
        with tempfile.TemporaryDirectory(prefix="benchmarks-") as workdir:
            synth = run_synth_benchmark(counts, runs, Path(workdir), progress)
            handler = run_handler_benchmark(synth.ours_assembly, runs, progress)
        suite = None
        if arguments.with_tests:
            progress("test suite: python -m pytest -q")
            suite = run_test_suite()
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    targets = evaluate(synth, handler, suite)
    write_chart(synth, CHART)
    seconds = time.perf_counter() - started
    MARKDOWN.write_text(
        render(Report(command, seconds, machine, synth, handler, suite, targets, str(CHART.relative_to(REPO))))
    )
    print()
    for target in targets:
        print(f"{target.status.strip('*'):>24}  {target.name}: {target.figure}")
    print(f"\nWrote {MARKDOWN.relative_to(REPO)} and {CHART.relative_to(REPO)}")
    print(f"Total runtime: {seconds:.0f} s ({seconds / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
