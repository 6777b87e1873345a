"""What a run concludes: the targets judged on its figures, BENCHMARKS.md and benchmarks/chart.png."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from statistics import median
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # no display here, and none wanted: the chart is a file

import matplotlib.pyplot as plt
import numpy as np

from offline.assembly import ASSET_BUDGET_BYTES

from . import measure
from .measure import BASELINE, KINDS, LABELS, REFERENCE_KINDS, REQUESTS, HandlerResults, SynthResults

# The limits: synth time ours/native at these N, cold start over the floor's, Delete seconds, and the share of the
# function's memory ("room to spare": a quarter left for what the real runtime adds and for larger responses).
SYNTH_RATIO, SYNTH_RATIO_COUNTS, COLD_START, DELETE_SECONDS, MEMORY_SHARE = 1.10, (1, 100), 1.5, 2.0, 0.75
FLOOR = "Floor: `import boto3` + one Data Exchange client"
COLUMNS = "N|Stack|Wall s (median)|Ratio to native|CPU s, process tree|Peak MB, process tree|Peak MB, largest process"


class SuiteResult(NamedTuple):
    seconds: float
    passed: bool
    summary: str


def evaluate(synth: SynthResults, handler: HandlerResults, suite: SuiteResult | None) -> list[str]:
    """Each target as a row: what is held to a limit|met, not met or not measured|the figure."""
    ours = {count: synth.cells["ours", count].footprint for count in synth.counts}
    steps = [(a, b, ours[b]["Resources"] - ours[a]["Resources"]) for a, b in pairwise(synth.counts)]
    one_each = all(footprint["Lambda functions"] == footprint["IAM roles"] == 1 for footprint in ours.values())
    ours_b, native_b = synth.slope("ours", "Template bytes"), synth.slope("native", "Template bytes")
    init, floor = median(handler.init_ms(*REQUESTS)), median(handler.init_ms("Floor"))
    deletes = [execution.seconds for execution in handler.executions["Delete"]]
    mb, peak = handler.memory_mb, max(handler.peak_kb[name] for name in REQUESTS) / 1024
    zipped, share = handler.asset["Zipped bytes"], peak / mb
    steps_text = "; ".join(f"N {a}→{b}: +{grown} for +{b - a}" for a, b, grown in steps)
    each = ", ".join(f"N = {n}: {f['Lambda functions']} function(s), {f['IAM roles']} role(s)" for n, f in ours.items())
    bytes_text = f"{ours_b:.0f} B vs {native_b:.0f} B (N {synth.counts[0]}→{synth.counts[-1]})"
    cold_text = f"{init / floor:.2f}x ({init:.0f} ms vs {floor:.0f} ms)"
    delete_text = f"slowest of {len(deletes)}: {max(deletes):.2f} s, fresh process to response"
    asset_text = f"{zipped / 1024:.1f} KB zipped ({handler.asset['Unzipped bytes'] / 1024:.1f} KB unzipped)"
    peak_text = f"peak {peak:.0f} MB = {share:.0%} of {mb} MB (VmHWM)"
    suite_text = f"{suite.seconds:.0f} s: {suite.summary}" if suite else "run with --with-tests"
    judged: list[tuple[str, bool | None, str]] = [
        *(_synth_ratio(synth, count) for count in SYNTH_RATIO_COUNTS),
        ("Resources grow by exactly one per added construct", all(g == b - a for a, b, g in steps), steps_text),
        ("One Lambda function and one role for any N", one_each, each),
        ("Template bytes per added construct ≤ native's", ours_b <= native_b, bytes_text),
        (f"Handler cold start ≤ {COLD_START} x the bare-boto3 floor", init / floor <= COLD_START, cold_text),
        (f"Delete answers in under {DELETE_SECONDS:.0f} s", max(deletes) < DELETE_SECONDS, delete_text),
        (
            f"Lambda asset ≤ {ASSET_BUDGET_BYTES // 1024} KB, zipped as uploaded",
            zipped <= ASSET_BUDGET_BYTES,
            asset_text,
        ),
        (f"An invocation fits in {mb} MB with room to spare (≤ {MEMORY_SHARE:.0%})", share <= MEMORY_SHARE, peak_text),
        ("The test suite passes (its time is reported, against no limit)", suite.passed if suite else None, suite_text),
    ]
    status = {None: "not measured in this run", True: "met", False: "**not met**"}
    return [f"{name}|{status[ok]}|{figure}" for name, ok, figure in judged]


def _synth_ratio(synth: SynthResults, count: int) -> tuple[str, bool | None, str]:
    name = f"Synth time ours/native ≤ {SYNTH_RATIO:.2f} at N = {count}"
    if count not in synth.counts:
        return name, None, f"N = {count} was not synthesized"
    figure = f"{synth.ratio('ours', count):.2f} (median of same-round ratios)"
    if ("bare_lambda", count) in synth.cells:
        figure += f"; a bare Lambda function with no event action: {synth.ratio('bare_lambda', count):.2f}"
    return name, synth.ratio("ours", count) <= SYNTH_RATIO, figure


def write_chart(synth: SynthResults, path: Path) -> None:
    """Synth time (bars: fastest to slowest run), template size and resource count against N, a line per kind."""
    figure, axes = plt.subplots(1, 3, figsize=(16, 5.2), layout="constrained")
    panels = [  # title, unit, figure, scale
        (f"Synth time, whole process (median of {synth.runs}, bars: min-max)", "seconds", "seconds", 1),
        ("Template size", "KB (JSON as synthesized)", "Template bytes", 1024),
        ("Resources in the template", "resources", "Resources", 1),
    ]
    counts = list(synth.counts)
    for axis, (title, unit, name, scale) in zip(axes, panels, strict=True):
        for kind, marker in zip(KINDS, "os^Dv<>", strict=False):
            values = np.array([synth.cells[kind, count][name] / scale for count in counts])
            seconds = np.array([[run.seconds for run in synth.cells[kind, count].runs] for count in counts])
            spread = [values - seconds.min(axis=1), seconds.max(axis=1) - values] if name == "seconds" else None
            axis.errorbar(counts, values, yerr=spread, capsize=4, linewidth=2, marker=marker, label=LABELS[kind])
        axis.set(title=title, xlabel="event actions per stack (N)", ylabel=unit, xscale="log", ylim=(0, None))
        axis.set(xticks=counts, xticklabels=counts)
        axis.minorticks_off()
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=10, loc="lower right")
    figure.suptitle("AutoExportEventAction vs CfnEventAction vs AwsCustomResource", fontsize=14)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _table(header: str, rows: Iterable[str]) -> str:
    """A Markdown table of the header and rows, their cells separated by "|"."""
    lines = [header, "|".join(["---"] * (header.count("|") + 1)), *rows]
    return "\n".join("| " + " | ".join(line.split("|")) + " |" for line in lines)


def _stats(values: Sequence[float], digits: int = 0) -> str:
    """How many|median|min|max."""
    return f"{len(values)}|" + "|".join(f"{v:.{digits}f}" for v in (median(values), min(values), max(values)))


def render(
    command: str,
    seconds: float,
    machine: Mapping[str, str],
    synth: SynthResults,
    handler: HandlerResults,
    suite: SuiteResult | None,
    targets: list[str],
    chart: str,
) -> str:
    low, high, runs, mb = synth.counts[0], synth.counts[-1], synth.runs, handler.memory_mb
    grid = [(count, kind, synth.cells[kind, count]) for count in synth.counts for kind in KINDS]

    def ratio(kind: str, count: int = low) -> str:
        return "1 (baseline)" if kind == BASELINE else f"{synth.ratio(kind, count):.2f}"

    times = [
        f"{n}|{LABELS[k]}|{c['seconds']:.2f}|{ratio(k, n)}|{c['cpu_seconds']:.2f}|"
        f"{c['tree_peak_kb'] / 1024:.0f}|{c['max_rss_kb'] / 1024:.0f}"
        for n, k, c in grid
    ]
    fixed = [
        f"{LABELS[k]}|{synth.cells[k, low]['seconds']:.2f}|{ratio(k)}" for k in (BASELINE, *REFERENCE_KINDS, "ours")
    ]
    per_action = [f"{LABELS[k]}|{synth.slope(k, 'seconds') * 1000:.1f}" for k in (BASELINE, "ours")]
    growth = [f"{LABELS[k]}|{synth.slope(k, 'Template bytes'):.0f}|{synth.slope(k, 'Resources'):g}" for k in KINDS]
    module = "Handler: import of `dataexchange_auto_export_handler.index` until ready"
    cold = [f"{module}|{_stats(handler.init_ms(*REQUESTS))}", f"{FLOOR}|{_stats(handler.init_ms('Floor'))}"]
    requests = [
        f"{name}|{_stats([e.seconds for e in ex], 2)}|{median(e.stats['invoke_seconds'] for e in ex):.3f}"
        for name, ex in ((name, handler.executions[name]) for name in REQUESTS)
    ]
    memory = [
        f"{FLOOR if name == 'Floor' else f'{name} invocation'}|{kb / 1024:.0f}|{kb / 1024 / mb:.0%}"
        for name, kb in handler.peak_kb.items()
    ]
    tests = f"`python -m pytest -q`: {suite.seconds:.0f} s, {suite.summary}." if suite else "Not measured in this run."
    footprints = ["|".join(map(str, [n, LABELS[k], *c.footprint.values()])) for n, k, c in grid]
    blocks = [
        "# Benchmarks",
        f"""AutoExportEventAction (ours) beside CloudFormation's native `AWS::DataExchange::EventAction`
(`CfnEventAction`) and CDK's `AwsCustomResource` calling `createEventAction`/`deleteEventAction`: equivalent stacks
of one bucket and N = {", ".join(map(str, synth.counts))} event actions on the same data set, bucket and key pattern
([`benchmarks/stacks.py`](benchmarks/stacks.py)). Generated by `{command}` in {seconds / 60:.1f} min on
{machine["Date (UTC)"]} UTC, {runs} run(s) per cell, on the machine below. **Absolute times depend on the machine
and its load; compare the ratios**, which come from runs made back to back in the same round.""",
        f"![Synth time, template size and resource count against N]({chart})",
        "## Targets",
        _table("Target|Status|Measured", targets),
        "## Synth",
        f"""Each synth is a whole process, `python benchmarks/stacks.py KIND N OUTDIR`, as `cdk synth` runs a user's app
(less the CLI's own start-up, the same for every stack), with aws-cdk-lib's built-in CloudFormation validation at
its default, on. After a discarded warm-up synth per kind, each of {runs} round(s) synthesizes every kind at every
N back to back, the first kind rotating. Medians; the ratio is the median of the same-round ratios to native.""",
        _table(COLUMNS, times),
        f"""Memory in MB of 1024 KB: *process tree* is the largest sum of the resident sets of the app and jsii's node
process, sampled from /proc every {measure.SAMPLE_SECONDS:g} s; *largest process* is `ru_maxrss` from `os.wait4`
on the app, the peak of the largest single process among it and the descendants it waited for (jsii's node
kernel, in practice), exact but not a sum. CPU: user + system time of the app and its waited children (`wait4`).""",
        "## Where ours' synth time goes",
        f"""Two stacks without event actions, synthesized at N = {low} in the same rounds, split ours' fixed cost. A
bare Lambda function is what any Lambda-backed custom resource adds first (aws-cdk-lib's `aws_lambda` bindings
imported, a function and its role built through jsii's node process); our provider adds the bundled asset (staged
and hashed), the log group and the policy statements; the rest of ours at N = {low} is the construct itself.""",
        _table("Stack|Wall s (median)|Ratio to native", fixed),
        f"""Per added event action, in milliseconds (slope of the median synth time from N = {low} to N = {high}). A
native event action is one jsii call with one nested struct; ours is a construct, a validation of each literal
prop, a custom resource with its dependency and a lookup of the shared provider: about 25 jsii round trips to node
(a cProfile of `benchmarks/stacks.py ours 100 OUTDIR` shows the time in jsii's `send`, waiting on node).""",
        _table("Stack|ms per event action", per_action),
        "## Template footprint",
        _table("|".join(["N", "Stack", *grid[0][2].footprint]), footprints),
        f"Per added construct, from N = {low} to N = {high} (bytes of `BenchStack.template.json`, as written):",
        _table("Stack|Template bytes|Resources", growth),
        "## Handler",
        f"""The handler runs from the staged asset of the N = {low} stack through `offline.cloudformation`, each
request in a fresh Lambda-like process (`.venv-lambda`'s Python with `-I`: the standard library, boto3 and the
asset only) against the local Data Exchange endpoint, answering to a local HTTPS ResponseURL. Each round runs the
floor (a module that only imports boto3 and makes a Data Exchange client), a Create and a Delete, in turn, all
through the same bootstrap. The asset, as staged in `cdk.out` and zipped with deflate, as uploaded:""",
        _table("|".join(handler.asset), ["|".join(map(str, handler.asset.values()))]),
        "Cold start, from the start of the module's import until it is ready (the bootstrap's `init_seconds`; every "
        "invocation is a cold start):",
        _table("Measured|Samples|Median ms|Min ms|Max ms", cold),
        "Requests, from process start to response received, and the handler call alone (`invoke_seconds`):",
        _table("Request|Samples|Median s|Min s|Max s|Handler call s (median)", requests),
        f"""Memory: peak resident set (VmHWM from /proc) of the invocation process, sampled every
{measure.HIGH_WATER_SAMPLE_SECONDS * 1000:g} ms in one more, untimed invocation of each; not the bootstrap's
`ru_maxrss`, which Linux carries over from the parent's resident size across fork and exec.""",
        _table(f"Process|Peak MB|Share of {mb} MB", memory),
        "## Test suite",
        f"{tests} In-process unit-test synths turn the built-in validation off (tests/conftest.py); the "
        "example app's CLI synth keeps it on.",
        "## Machine",
        _table("|", (f"{name}|{value}" for name, value in machine.items())),
    ]
    return "\n\n".join(blocks) + "\n"
