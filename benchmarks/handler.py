"""Our handler: the Lambda asset's size, its cold start against the bare-boto3 floor, and one Create
and one Delete per round against the local Data Exchange endpoint, through the offline runner (so
the handler runs from the staged asset in a Lambda-like process, as it would be deployed)."""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from offline.dataexchange_endpoint import LocalDataExchange
from offline.lifecycle import (
    BOOTSTRAP,
    LAMBDA_BASE_ENVIRONMENT,
    Invocation,
    LifecycleError,
    OfflineCloudFormation,
    SynthesizedStack,
)

from . import LAMBDA_PYTHON, BenchmarkError
from .measure import HighWaterSampler
from .synth import STACK_NAME

FLOOR_SCRIPT = Path(__file__).with_name("cold_start_floor.py")
FUNCTION_MEMORY_MB = 128


@dataclass(frozen=True)
class AssetSize:
    files: int
    unzipped_bytes: int
    zipped_bytes: int


@dataclass
class HandlerResults:
    asset: AssetSize
    floor_seconds: list[float] = field(default_factory=list)
    floor_peak_kb: list[int] = field(default_factory=list)
    creates: list[Invocation] = field(default_factory=list)
    deletes: list[Invocation] = field(default_factory=list)
    # VmHWM of the invocation process, sampled in an extra, untimed Create and Delete.
    create_peak_kb: int = 0
    delete_peak_kb: int = 0

    @property
    def invocations(self) -> list[Invocation]:
        return self.creates + self.deletes

    @property
    def init_seconds(self) -> list[float]:
        """Every invocation is a fresh process, so each one is a cold start."""
        return [invocation.stats["init_seconds"] for invocation in self.invocations]

    @property
    def median_init_seconds(self) -> float:
        return statistics.median(self.init_seconds)

    @property
    def median_floor_seconds(self) -> float:
        return statistics.median(self.floor_seconds)

    @property
    def cold_start_ratio(self) -> float:
        return self.median_init_seconds / self.median_floor_seconds

    @property
    def peak_rss_kb(self) -> int:
        return max(self.create_peak_kb, self.delete_peak_kb)

    @property
    def bootstrap_max_rss_kb(self) -> int:
        """The bootstrap's own figure, ru_maxrss: it includes this benchmark's resident size, which
        Linux carries into every child across fork and exec."""
        return max(int(invocation.stats["max_rss_kb"]) for invocation in self.invocations)


def asset_size(asset_dir: Path) -> AssetSize:
    """Zipped as the CDK CLI uploads it (deflate), in memory."""
    files = sorted(path for path in asset_dir.rglob("*") if path.is_file())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in files:
            zipped.write(path, path.relative_to(asset_dir))
    return AssetSize(len(files), sum(path.stat().st_size for path in files), len(archive.getvalue()))


def measure_floor() -> tuple[float, int]:
    """The floor's init_seconds and its peak RSS (VmHWM) in KB."""
    result = subprocess.run(
        [str(LAMBDA_PYTHON), "-I", str(FLOOR_SCRIPT)],
        env=dict(LAMBDA_BASE_ENVIRONMENT),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchmarkError(f"the cold-start floor failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    return float(stats["init_seconds"]), int(stats["peak_rss_kb"])


def run_handler_benchmark(assembly: Path, runs: int, progress: Callable[[str], None]) -> HandlerResults:
    """Each round: the floor, then a Create and a Delete, each in a fresh process, in turn. Then one
    more Create and Delete, untimed, with their memory sampled: sampling /proc every few
    milliseconds takes CPU the timed rounds should not lose."""
    if not LAMBDA_PYTHON.exists():
        raise BenchmarkError(f"{LAMBDA_PYTHON} is missing: run `make setup`")
    stack = SynthesizedStack(assembly, STACK_NAME)
    # The stack of one AutoExportEventAction has exactly one function: the handler.
    [function] = [key for key, resource in stack.resources.items() if resource["Type"] == "AWS::Lambda::Function"]
    results = HandlerResults(asset_size(stack.function(function).asset_dir))
    with LocalDataExchange() as endpoint, tempfile.TemporaryDirectory(prefix="bench-handler-") as directory:

        def new_stack(name: str) -> OfflineCloudFormation:
            return OfflineCloudFormation(stack, Path(directory) / f"{name}.json", endpoint.url, LAMBDA_PYTHON)

        for round_number in range(runs):
            progress(f"handler {round_number + 1}/{runs}: cold-start floor, Create, Delete")
            seconds, peak_kb = measure_floor()
            results.floor_seconds.append(seconds)
            results.floor_peak_kb.append(peak_kb)
            runner = new_stack(f"round-{round_number}")
            _lifecycle_step(runner.deploy)
            _lifecycle_step(runner.destroy)
            create, delete = runner.invocations
            results.creates.append(create)
            results.deletes.append(delete)

        progress("handler memory: one more Create and Delete, sampled from /proc, untimed")
        runner = new_stack("memory")
        with HighWaterSampler(BOOTSTRAP.name.encode()) as create_sampler:
            _lifecycle_step(runner.deploy)
        with HighWaterSampler(BOOTSTRAP.name.encode()) as delete_sampler:
            _lifecycle_step(runner.destroy)
    if not (create_sampler.peak_kb and delete_sampler.peak_kb):
        raise BenchmarkError("an invocation process ended before its memory could be sampled")
    results.create_peak_kb, results.delete_peak_kb = create_sampler.peak_kb, delete_sampler.peak_kb
    return results


def _lifecycle_step(step: Callable[[], object]) -> None:
    try:
        step()
    except LifecycleError as error:
        raise BenchmarkError(f"handler: {error}") from error
