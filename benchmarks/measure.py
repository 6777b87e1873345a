"""The measurements, from /proc (Linux): synth time, memory and template footprint of each stack kind of stacks.py,
each synth a whole process, the jsii round trips of a few more and each kind's cost per construct timed inside one
process; and our handler's asset, cold start against the
bare-boto3 floor, requests and memory, run by the offline CloudFormation player against the local Data Exchange
endpoint in a Lambda-like process."""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

from cdk_dataexchange_auto_export.local.account import ACCOUNT, PARTITION, REGION
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.lambda_runtime import BOOTSTRAP, Execution, LambdaRuntime
from tools.asset_budget import zipped_size
from tools.toolchain import LAMBDA_PYTHON, REPO, cdk_environment

from . import BenchmarkError

HERE = Path(__file__).parent
STACKS_APP, ROUND_TRIPS, IN_PROCESS = HERE / "stacks.py", HERE / "round_trips.py", HERE / "in_process.py"
FLOOR = HERE / "cold_start_floor.py"
# As stacks.py names them: the benchmark does not import it (that would load aws-cdk-lib), nor it the benchmark.
STACK_NAME, IMPORTED = "BenchStack", "_imported"
OWNED_KINDS = {
    "ours": "AutoExportEventAction (ours)",
    "native": "CfnEventAction (native)",
    "awscr": "AwsCustomResource",
}
# Compared at every N, in this order in a round; each kind's baseline is native with the same bucket.
KINDS = OWNED_KINDS | {kind + IMPORTED: f"{label}, imported bucket" for kind, label in OWNED_KINDS.items()}
BASELINE = "native"
# No event action, so N changes nothing: synthesized at the smallest N only, to explain ours' fixed cost.
REFERENCE_KINDS = {
    "bare_lambda": "A bare Lambda function (inline code), no event action",
    "provider": "Our provider alone (function from the asset, role, log group), no event action",
}
LABELS = KINDS | REFERENCE_KINDS
# Timed only inside one process, per added construct: a product's cost has no native or AwsCustomResource peer.
IN_PROCESS_ONLY = {"product": "AutoExportProduct (ours, a whole product)"}
# A product is five resources (its custom resource, two rules, their two permissions): CloudFormation's 500 per
# stack allow 99 of them, so a product's cost is timed up to this many.
PRODUCT_HIGH = 20
# The warning our construct leaves for an imported bucket, whose policy it cannot change (a CDK annotation).
BUCKET_POLICY_WARNING = "@cdk-dataexchange-auto-export/bucketPolicy"
COUNTED = {"Lambda functions": "Lambda::Function", "IAM policies": "IAM::Policy", "IAM roles": "IAM::Role"}
REQUESTS = ("Create", "Delete")
SAMPLE_SECONDS, HIGH_WATER_SAMPLE_SECONDS = 0.1, 0.005  # a synth takes seconds; an invocation well under one
Progress = Callable[[str], None]


class Sampler(threading.Thread):
    """The largest figure `read_kb()` returns, called every `interval` seconds while the `with` block runs."""

    def __init__(self, read_kb: Callable[[], int], interval: float) -> None:
        super().__init__(daemon=True)
        self._read_kb, self._interval, self._stopped, self.peak_kb = read_kb, interval, threading.Event(), 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self.join()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.peak_kb = max(self.peak_kb, self._read_kb())


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    cpu_seconds: float
    max_rss_kb: int  # ru_maxrss from wait4: the largest single process among the app and the children it waited for
    tree_peak_kb: int  # the largest sum of the resident sets of the app and all its descendants, sampled


@dataclass
class Cell:
    """The synths of one kind at one N (`runs[i]` in round i), what their template holds and the warnings of ours."""

    footprint: dict[str, int]  # Template bytes, Resources and each of COUNTED
    warnings: list[str]  # the text of each BUCKET_POLICY_WARNING in the cloud assembly
    runs: list[ProcessRun] = field(default_factory=list)

    def __getitem__(self, figure: str) -> float:
        """A footprint figure, or the median over the rounds of a ProcessRun field."""
        if figure in self.footprint:
            return self.footprint[figure]
        return float(statistics.median(getattr(run, figure) for run in self.runs))


@dataclass(frozen=True)
class Probe:
    """One counted synth (round_trips.py): its jsii round trips by where they came from, and our modules it imported."""

    round_trips: dict[str, int]
    imported: list[str]


@dataclass(frozen=True)
class SynthResults:
    counts: tuple[int, ...]
    runs: int
    cells: dict[tuple[str, int], Cell]
    probes: dict[tuple[str, int], Probe]  # each of OWNED_KINDS at the smallest and the largest N
    in_process: dict[str, dict[str, list[float]]]  # per kind, in_process.py's seconds at the "low" and "high" N
    ours_assembly: Path  # of the first `ours` synth at the smallest N: the handler benchmark runs its asset

    def ratio(self, kind: str, count: int) -> float:
        """The median of this kind's times over native's (same bucket) in the same round: drifting load cancels out."""
        pairs = zip(self.cells[kind, count].runs, self.cells[baseline(kind), count].runs, strict=True)
        return statistics.median(mine.seconds / native.seconds for mine, native in pairs)

    def slope(self, kind: str, figure: str) -> float:
        """How much `figure` grows per added construct, from the smallest N to the largest."""
        low, high = self.counts[0], self.counts[-1]
        return (self.cells[kind, high][figure] - self.cells[kind, low][figure]) / (high - low)

    def in_process_ms(self, kind: str) -> float:
        """Milliseconds per added construct, from the medians of the synths timed inside one process."""
        seconds = self.in_process[kind]
        grown = statistics.median(seconds["high"]) - statistics.median(seconds["low"])
        return grown * 1000 / (seconds["high_count"][0] - self.counts[0])

    def round_trips(self, kind: str) -> dict[str, float]:
        """jsii round trips per added construct, from the smallest N to the largest, by where they came from."""
        low, high = (self.probes[kind, count].round_trips for count in (self.counts[0], self.counts[-1]))
        grown = Counter(high)
        grown.subtract(low)
        return {origin: trips / (self.counts[-1] - self.counts[0]) for origin, trips in grown.most_common() if trips}


def baseline(kind: str) -> str:
    """What a kind's synth time is compared with: native, with the same kind of bucket."""
    return BASELINE + IMPORTED if kind.endswith(IMPORTED) else BASELINE


@dataclass
class HandlerResults:
    asset: dict[str, int]  # Files, Unzipped bytes, Zipped bytes (deflate, as the CDK CLI uploads it)
    memory_mb: int  # the function's, from the template
    # Per "Floor" and request type; every invocation is a fresh process (reuse=False), so each is a cold start.
    executions: dict[str, list[Execution]] = field(default_factory=lambda: {"Floor": [], "Create": [], "Delete": []})
    peak_kb: dict[str, int] = field(default_factory=dict)  # VmHWM, sampled in one more, untimed invocation of each

    def init_ms(self, *names: str) -> list[float]:
        return [execution.stats["init_seconds"] * 1000 for name in names for execution in self.executions[name]]


def run_synth_benchmark(counts: Sequence[int], runs: int, workdir: Path, progress: Progress) -> SynthResults:
    """After one discarded synth per kind, which fills the disk cache, each round synthesizes every kind at every N
    back to back, so that ratios compare runs made under the same load, the first kind rotating each round."""
    for kind in LABELS:
        progress(f"warm-up synth: {kind} N={counts[0]} (discarded)")
        synthesize(kind, counts[0], workdir / f"warmup-{kind}")
    cells: dict[tuple[str, int], Cell] = {}
    done, total = itertools.count(1), (len(KINDS) * len(counts) + len(REFERENCE_KINDS)) * runs
    for round_number, count in itertools.product(range(runs), counts):
        kinds = list(LABELS if count == counts[0] else KINDS)
        for kind in kinds[round_number % len(kinds) :] + kinds[: round_number % len(kinds)]:
            progress(f"synth {next(done)}/{total}: round {round_number + 1}/{runs}, {kind} N={count}")
            outdir = workdir / f"{kind}-{count}-{round_number}"
            run = synthesize(kind, count, outdir)
            if (kind, count) not in cells:  # the template is the same in every round: read it once
                cells[kind, count] = Cell(_footprint(outdir), _warnings(outdir))
            cells[kind, count].runs.append(run)
    probes: dict[tuple[str, int], Probe] = {}
    for kind, count in itertools.product(OWNED_KINDS, (counts[0], counts[-1])):
        progress(f"jsii round trips, counted: {kind} N={count}")
        result = workdir / f"round-trips-{kind}-{count}.json"
        synthesize(kind, count, workdir / f"round-trips-{kind}-{count}", [str(ROUND_TRIPS), str(result)])
        probes[kind, count] = Probe(**json.loads(result.read_text()))
    in_process: dict[str, dict[str, list[float]]] = {}
    for kind in [*KINDS, *IN_PROCESS_ONLY]:
        high = min(counts[-1], PRODUCT_HIGH) if kind in IN_PROCESS_ONLY else counts[-1]
        progress(f"in one process: {kind} N={counts[0]} and N={high}, {runs} time(s) each")
        result, outdir = workdir / f"in-process-{kind}.json", workdir / f"in-process-{kind}"
        synthesize(kind, high, outdir, [str(IN_PROCESS), str(result), str(counts[0]), str(runs)])
        in_process[kind] = {**json.loads(result.read_text()), "high_count": [high]}
    return SynthResults(tuple(counts), runs, cells, probes, in_process, workdir / f"ours-{counts[0]}-0")


def synthesize(kind: str, count: int, outdir: Path, app: Sequence[str] = (str(STACKS_APP),)) -> ProcessRun:
    """`python APP... KIND N OUTDIR` (stacks.py, round_trips.py RESULT or in_process.py RESULT LOW ROUNDS), timed."""
    # Nothing inherited that changes what synth does (CDK_VALIDATION, CDK_OUTDIR, CDK_CONTEXT_JSON...): the
    # built-in validation stays at its default, on, as users get it.
    environment = cdk_environment({key: value for key, value in os.environ.items() if not key.startswith("CDK_")})
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO / "constructs"), str(REPO / "lambda")])
    command = [sys.executable, *app, kind, str(count), str(outdir)]
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=environment, cwd=outdir.parent, stdout=output, stderr=subprocess.STDOUT)
        with Sampler(lambda: sum(_status_kb(pid, b"VmRSS:") for pid in _tree(process.pid)), SAMPLE_SECONDS) as tree:
            # wait4, not Popen.wait: it returns the child's rusage, and stops the clock the moment the child exits.
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            last = (output.read().decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise BenchmarkError(f"synth of {kind} N={count} failed: {last}")
    return ProcessRun(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, tree.peak_kb)


def _footprint(outdir: Path) -> dict[str, int]:
    path = outdir / f"{STACK_NAME}.template.json"
    types = Counter(resource["Type"] for resource in json.loads(path.read_text())["Resources"].values())
    counted = {name: types[f"AWS::{resource_type}"] for name, resource_type in COUNTED.items()}
    return {"Template bytes": path.stat().st_size, "Resources": types.total(), **counted}


def _warnings(outdir: Path) -> list[str]:
    """Each BUCKET_POLICY_WARNING the stack's cloud assembly holds (its metadata, in the manifest or beside it)."""
    artifact = json.loads((outdir / "manifest.json").read_text())["artifacts"][STACK_NAME]
    sources = [artifact.get("metadata", {})]
    if "additionalMetadataFile" in artifact:
        sources.append(json.loads((outdir / artifact["additionalMetadataFile"]).read_text()))
    entries = [entry for metadata in sources for by_path in metadata.values() for entry in by_path]
    return [
        str(entry["data"])
        for entry in entries
        if entry["type"] == "aws:cdk:warning" and BUCKET_POLICY_WARNING in str(entry["data"])
    ]


def run_handler_benchmark(assembly: Path, runs: int, progress: Progress) -> HandlerResults:
    """Each round: the floor, a Create and a Delete, in turn. Then one more of each, untimed, with its memory
    sampled: sampling /proc every few milliseconds takes CPU that the timed rounds should not lose."""
    stack = SynthesizedStack(assembly, STACK_NAME)
    [function] = [stack.function(key) for key in stack.of_type("AWS::Lambda::Function")]  # one: the handler
    files = [path for path in function.asset_dir.rglob("*") if path.is_file()]
    asset = {"Files": len(files), "Unzipped bytes": sum(path.stat().st_size for path in files)}
    results = HandlerResults(asset | {"Zipped bytes": zipped_size(function.asset_dir)}, function.memory_mb)
    # The floor, as a function with the handler's timeout and memory.
    floor = replace(function, asset_dir=FLOOR.parent, handler=f"{FLOOR.stem}.handler", environment={})
    # The handler reads its resource's status from CloudFormation's read API too: the offline account serves both.
    with OfflineAws() as aws, tempfile.TemporaryDirectory(prefix="bench-handler-") as directory:
        runtime = LambdaRuntime(LAMBDA_PYTHON, aws.environment(), reuse=False)

        def invoke_floor() -> Execution:
            execution = runtime.invoke(floor, f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:floor", {})
            if not execution.stats:
                raise BenchmarkError(f"the cold-start floor failed: {execution.output.strip()[-300:]}")
            return execution

        for round_number in range(runs):
            progress(f"handler {round_number + 1}/{runs}: cold-start floor, Create, Delete")
            results.executions["Floor"].append(invoke_floor())
            with aws.cloudformation(stack, Path(directory) / f"{round_number}.json", runtime) as cloudformation:
                cloudformation.deploy()
                cloudformation.destroy()
            for invocation in cloudformation.invocations:
                results.executions[invocation.request["RequestType"]].append(invocation.execution)
        progress("handler memory: one more floor, Create and Delete, sampled from /proc, untimed")
        with aws.cloudformation(stack, Path(directory) / "memory.json", runtime) as cloudformation:
            steps = {"Floor": invoke_floor, "Create": cloudformation.deploy, "Delete": cloudformation.destroy}
            for name, step in steps.items():
                with Sampler(lambda: high_water_kb(BOOTSTRAP.name.encode()), HIGH_WATER_SAMPLE_SECONDS) as sampler:
                    step()
                if not sampler.peak_kb:
                    raise BenchmarkError(f"the {name} process ended before its memory could be sampled")
                results.peak_kb[name] = sampler.peak_kb
    return results


def high_water_kb(marker: bytes) -> int:
    """The largest peak resident set (VmHWM) among this process's descendants whose command line holds `marker`.
    VmHWM starts afresh at exec, unlike ru_maxrss, which keeps the resident size a child was forked with."""
    return max((_status_kb(pid, b"VmHWM:") for pid in _tree(os.getpid()) if marker in _read(pid, "cmdline")), default=0)


def _read(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as file:
            return file.read()
    except OSError:
        return b""  # the process exited between listing and reading


def _status_kb(pid: int, field: bytes) -> int:
    return next((int(line.split()[1]) for line in _read(pid, "status").splitlines() if line.startswith(field)), 0)


def _tree(root: int) -> list[int]:
    """The root and its descendants, from every process's parent (/proc/PID/task/*/children needs a kernel option)."""
    children: dict[int, list[int]] = {}
    for pid in (int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()):
        fields = _read(pid, "stat").rsplit(b")", 1)[-1].split()  # the command name may hold spaces and parentheses
        children.setdefault(int(fields[1]) if fields else 0, []).append(pid)
    found = [root]
    for pid in found:
        found += children.get(pid, [])
    return found
