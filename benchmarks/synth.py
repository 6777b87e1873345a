"""Synth cost and template footprint of the three stack kinds, each synth a whole process."""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO, BenchmarkError
from .measure import ProcessRun, run_measured

STACKS_APP = Path(__file__).with_name("stacks.py")
STACK_NAME = "BenchStack"
# The order runs go in within a round; native is the baseline of every ratio.
KINDS = ("ours", "native", "awscr")
BASELINE = "native"
# Synthesized at the smallest N only, in the same rounds: they hold no event action and explain ours' fixed cost.
REFERENCE_KINDS = ("bare_lambda", "provider")
LABELS = {
    "ours": "AutoExportEventAction (ours)",
    "native": "CfnEventAction (native)",
    "awscr": "AwsCustomResource",
    "bare_lambda": "A bare Lambda function (inline code), no event action",
    "provider": "Our provider alone (function from the asset, role, log group), no event action",
}


@dataclass(frozen=True)
class TemplateMetrics:
    bytes: int
    resources: int
    functions: int
    policies: int
    roles: int


@dataclass
class Cell:
    """Every run of one kind at one N; `runs[i]` belongs to round i."""

    kind: str
    count: int
    runs: list[ProcessRun] = field(default_factory=list)
    template: TemplateMetrics | None = None

    @property
    def median_seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def median_cpu_seconds(self) -> float:
        return statistics.median(run.cpu_seconds for run in self.runs)

    @property
    def median_tree_peak_kb(self) -> float:
        return statistics.median(run.tree_peak_kb for run in self.runs)

    @property
    def median_max_rss_kb(self) -> float:
        return statistics.median(run.max_rss_kb for run in self.runs)

    @property
    def metrics(self) -> TemplateMetrics:
        if self.template is None:
            raise BenchmarkError(f"{self.kind} N={self.count} has no template metrics: it never synthesized")
        return self.template


@dataclass
class SynthResults:
    counts: tuple[int, ...]
    cells: dict[tuple[str, int], Cell]
    # The assembly of one `ours` synth at the smallest N: the handler benchmark runs its staged asset.
    ours_assembly: Path

    def cell(self, kind: str, count: int) -> Cell:
        return self.cells[kind, count]

    @property
    def runs(self) -> int:
        """Runs per cell: one per round."""
        return len(self.cell(KINDS[0], self.counts[0]).runs)

    def ratio(self, kind: str, count: int) -> float:
        """Median over rounds of this kind's time over native's in the same round: the two ran back
        to back, so load that drifts over the whole benchmark cancels out."""
        mine, baseline = self.cell(kind, count).runs, self.cell(BASELINE, count).runs
        return statistics.median(a.seconds / b.seconds for a, b in zip(mine, baseline, strict=True))

    def seconds_per_construct(self, kind: str) -> float:
        """Slope of the median synth time between the smallest and the largest N."""
        low, high = self.counts[0], self.counts[-1]
        return (self.cell(kind, high).median_seconds - self.cell(kind, low).median_seconds) / (high - low)

    def resources_per_construct(self, kind: str) -> float:
        """Slope of the resource count between the smallest and the largest N."""
        low, high = self.counts[0], self.counts[-1]
        return (self.cell(kind, high).metrics.resources - self.cell(kind, low).metrics.resources) / (high - low)

    def bytes_per_construct(self, kind: str) -> float:
        """Slope of the template size between the smallest and the largest N."""
        low, high = self.counts[0], self.counts[-1]
        grown = self.cell(kind, high).metrics.bytes - self.cell(kind, low).metrics.bytes
        return grown / (high - low)


def synth_environment() -> dict[str, str]:
    environment = {
        # Nothing inherited that changes what synth does (CDK_VALIDATION, CDK_OUTDIR, CDK_CONTEXT_JSON...):
        # the built-in validation stays at its default, on, as users get it.
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CDK_")
    }
    environment.update(
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join([str(REPO / "constructs"), str(REPO / "lambda")]),
    )
    return environment


def synthesize(kind: str, count: int, outdir: Path) -> ProcessRun:
    run = run_measured(
        [sys.executable, str(STACKS_APP), kind, str(count), str(outdir)], env=synth_environment(), cwd=outdir.parent
    )
    if run.returncode != 0:
        lines = [line for line in run.output.splitlines() if line.strip()]
        raise BenchmarkError(f"synth of {kind} N={count} failed: {(lines or ['no output'])[-1].strip()}")
    return run


def template_metrics(outdir: Path) -> TemplateMetrics:
    path = outdir / f"{STACK_NAME}.template.json"
    types = Counter(resource["Type"] for resource in json.loads(path.read_text())["Resources"].values())
    return TemplateMetrics(
        bytes=path.stat().st_size,
        resources=sum(types.values()),
        functions=types["AWS::Lambda::Function"],
        policies=types["AWS::IAM::Policy"],
        roles=types["AWS::IAM::Role"],
    )


def run_synth_benchmark(
    counts: Sequence[int], runs: int, workdir: Path, progress: Callable[[str], None]
) -> SynthResults:
    """Round-robin: each round synthesizes every kind at every N once, kinds back to back, so the
    ratios compare runs made under the same load. The first kind rotates each round, so that no
    kind always follows the same neighbour."""
    cells = {(kind, count): Cell(kind, count) for kind in KINDS for count in counts}
    cells.update({(kind, counts[0]): Cell(kind, counts[0]) for kind in REFERENCE_KINDS})
    # One discarded synth per kind first: it fills the disk cache, so the first measured round does not pay it.
    for kind in KINDS + REFERENCE_KINDS:
        progress(f"warm-up synth: {kind} N={counts[0]} (discarded)")
        synthesize(kind, counts[0], workdir / f"warmup-{kind}")
    total, done = len(cells) * runs, 0
    for round_number in range(runs):
        for count in counts:
            kinds = KINDS + REFERENCE_KINDS if count == counts[0] else KINDS
            shift = round_number % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
                done += 1
                progress(f"synth {done}/{total}: round {round_number + 1}/{runs}, {kind} N={count}")
                outdir = workdir / f"{kind}-{count}-{round_number}"
                cell = cells[kind, count]
                cell.runs.append(synthesize(kind, count, outdir))
                if cell.template is None:
                    cell.template = template_metrics(outdir)
    return SynthResults(tuple(counts), cells, workdir / f"ours-{counts[0]}-0")
