"""What a run says: BENCHMARKS.md, its targets judged (targets.py) and its figures, and benchmarks/chart.png."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from statistics import median

import matplotlib

matplotlib.use("Agg")  # no display here, and none wanted: the chart is a file

import matplotlib.pyplot as plt
import numpy as np

from dataexchange_auto_export_handler.backfill import MAX_IN_FLIGHT

from . import backfill as bf
from . import measure, prices
from .backfill import BackfillResults
from .measure import (
    BASELINE,
    IMPORTED,
    KINDS,
    LABELS,
    OWNED_KINDS,
    REFERENCE_KINDS,
    REQUESTS,
    HandlerResults,
    SynthResults,
)
from .round_trips import PACKAGE
from .targets import BUCKETS, SuiteResult

FLOOR = "Floor: `import boto3` + one Data Exchange client"
COLUMNS = (
    "N|Stack|Wall s (median)|Ratio to native, same bucket|CPU s, process tree|Peak MB, process tree|"
    "Peak MB, largest process"
)


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
        for kind in KINDS:  # a colour and marker per stack, dashed and hollow with an imported bucket
            number, imported = list(OWNED_KINDS).index(kind.removesuffix(IMPORTED)), kind.endswith(IMPORTED)
            colour = f"C{number}"
            style = {"color": colour, "marker": "os^"[number], "markerfacecolor": "none" if imported else colour}
            values = np.array([synth.cells[kind, count][name] / scale for count in counts])
            seconds = np.array([[run.seconds for run in synth.cells[kind, count].runs] for count in counts])
            spread = [values - seconds.min(axis=1), seconds.max(axis=1) - values] if name == "seconds" else None
            line = "--" if imported else "-"
            axis.errorbar(
                counts, values, yerr=spread, capsize=4, linewidth=2, linestyle=line, label=LABELS[kind], **style
            )
        axis.set(title=title, xlabel="event actions per stack (N)", ylabel=unit, xscale="log", ylim=(0, None))
        axis.set(xticks=counts, xticklabels=counts)
        axis.minorticks_off()
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=9, loc="lower right")
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
    backfill: BackfillResults,
    suite: SuiteResult | None,
    targets: list[str],
    chart: str,
) -> str:
    low, high, runs = synth.counts[0], synth.counts[-1], synth.runs
    grid = [(count, kind, synth.cells[kind, count]) for count in synth.counts for kind in KINDS]

    def ratio(kind: str, count: int = low) -> str:
        return "1 (baseline)" if kind.removesuffix(IMPORTED) == BASELINE else f"{synth.ratio(kind, count):.2f}"

    times = [
        f"{n}|{LABELS[k]}|{c['seconds']:.2f}|{ratio(k, n)}|{c['cpu_seconds']:.2f}|"
        f"{c['tree_peak_kb'] / 1024:.0f}|{c['max_rss_kb'] / 1024:.0f}"
        for n, k, c in grid
    ]
    fixed = [
        f"{LABELS[k]}|{synth.cells[k, low]['seconds']:.2f}|{ratio(k)}" for k in (BASELINE, *REFERENCE_KINDS, "ours")
    ]
    per_construct = [
        f"{OWNED_KINDS[k]}|"
        + "|".join(f"{synth.in_process_ms(k + suffix):.1f}" for suffix in BUCKETS)
        + "|"
        + "|".join(f"{synth.slope(k + suffix, 'seconds') * 1000:.1f}" for suffix in BUCKETS)
        + f"|{sum(synth.round_trips(k).values()):g}"
        for k in OWNED_KINDS
    ]
    origins = [f"`{origin}`|{trips:g}" for origin, trips in synth.round_trips("ours").items()]
    imported = synth.probes["ours", high].imported
    warnings = synth.cells["ours" + IMPORTED, high].warnings
    warning_text = f"> {warnings[0][:600]}{' …' if len(warnings[0]) > 600 else ''}" if warnings else "(none)"
    growth = [f"{LABELS[k]}|{synth.slope(k, 'Template bytes'):.0f}|{synth.slope(k, 'Resources'):g}" for k in KINDS]
    footprints = ["|".join(map(str, [n, LABELS[k], *c.footprint.values()])) for n, k, c in grid]
    tests = f"`python -m pytest -q`: {suite.seconds:.0f} s, {suite.summary}." if suite else "Not measured in this run."
    blocks = [
        "# Benchmarks",
        f"""AutoExportEventAction (ours) beside CloudFormation's native `AWS::DataExchange::EventAction`
(`CfnEventAction`) and CDK's `AwsCustomResource` calling `createEventAction`/`deleteEventAction`: equivalent stacks
of one bucket, owned by the stack or imported by name, and N = {", ".join(map(str, synth.counts))} event actions on
the same data set, bucket and key pattern ([`benchmarks/stacks.py`](benchmarks/stacks.py)); the handler's cold start
and requests; and a backfill of {backfill.seeded:,} existing revisions. Generated by `{command}` in
{seconds / 60:.1f} min on {machine["Date (UTC)"]} UTC, {runs} run(s) per cell, on the machine below. **Absolute
times depend on the machine and its load; compare the ratios**, which come from runs made back to back in the same
round.""",
        f"![Synth time, template size and resource count against N]({chart})",
        "## Targets",
        _table("Target|Status|Measured", targets),
        "## Synth",
        f"""Each synth is a whole process, `python benchmarks/stacks.py KIND N OUTDIR`, as `cdk synth` runs a user's app
(less the CLI's own start-up, the same for every stack), with aws-cdk-lib's built-in CloudFormation validation at
its default, on. With an owned bucket, native and `AwsCustomResource` add the bucket policy statement that lets Data
Exchange write, once, as ours does; with an imported bucket (`s3.Bucket.from_bucket_name`) nobody can, so they skip
it and ours warns instead. After a discarded warm-up synth per kind, each of {runs} round(s) synthesizes every
kind at every N back to back, the first kind rotating. Medians; the ratio is the median of the same-round ratios to
native with the same kind of bucket.""",
        _table(COLUMNS, times),
        f"""Memory in MB of 1024 KB: *process tree* is the largest sum of the resident sets of the app and jsii's node
process, sampled from /proc every {measure.SAMPLE_SECONDS:g} s; *largest process* is `ru_maxrss` from `os.wait4`
on the app, the peak of the largest single process among it and the descendants it waited for (jsii's node
kernel, in practice), exact but not a sum. CPU: user + system time of the app and its waited children (`wait4`).""",
        "## Where ours' synth time goes",
        f"""Two stacks without event actions, synthesized at N = {low} in the same rounds, split ours' fixed cost. A
bare Lambda function is what a Lambda-backed custom resource built on aws-cdk-lib's `aws_lambda.Function` pays
first (the `aws_lambda` bindings imported, a function and its role built through jsii's node process); our provider
alone is ours' function, role, policy and log group with the bundled asset (staged and hashed), however it builds
them; the rest of ours at N = {low} is the construct itself.""",
        _table("Stack|Wall s (median)|Ratio to native", fixed),
        f"""Per added construct, in milliseconds, from N = {low} to N = {high}, with each kind of bucket: timed inside
one process by [`benchmarks/in_process.py`](benchmarks/in_process.py) (after a discarded synth, the stack at
N = {low} and at N = {high}, built and synthesized {runs} time(s) each, alternately; the difference of the medians
over the {high - low} constructs added), which the targets use; and the slope of the whole-process medians above,
which also carries the jitter of starting Python, node and jsii (on a shared machine, up to a second between two
synths of the same stack). Then the jsii round trips (requests to jsii's node process, callbacks' answers
included), counted by [`benchmarks/round_trips.py`](benchmarks/round_trips.py), which wraps jsii's
`_NodeProcess.send` (`jsii._kernel.providers.process`) in one more, untimed synth of each stack with an owned
bucket at N = {low} and N = {high}: the difference over the {high - low} constructs added.""",
        _table(
            "Stack|ms per added construct, one process, owned bucket|Imported bucket"
            "|ms, whole processes, owned|Imported|jsii round trips, owned",
            per_construct,
        ),
        f"""Where ours' round trips per added construct come from: the innermost frame of our construct's package,
by module and function. The counted synth of a plain `ours` stack at N = {high} imported these modules of
`{PACKAGE}`: """
        + ", ".join(f"`{name.removeprefix(PACKAGE + '.')}`" for name in imported if name != PACKAGE)
        + ".",
        _table("Origin|Round trips per added construct", origins),
        "## Imported bucket",
        f"""With an imported bucket our construct cannot add the statement that lets Data Exchange write; it leaves a
CDK warning (an annotation with id `{measure.BUCKET_POLICY_WARNING}`, in the cloud assembly's metadata as
`aws:cdk:warning`) saying which statement to add. At N = {high}, one bucket: {len(warnings)} such warning(s). The
first:""",
        warning_text,
        "## Template footprint",
        _table("|".join(["N", "Stack", *grid[0][2].footprint]), footprints),
        f"Per added construct, from N = {low} to N = {high} (bytes of `BenchStack.template.json`, as written):",
        _table("Stack|Template bytes|Resources", growth),
        *_handler_blocks(handler, low),
        *_backfill_blocks(backfill),
        "## Test suite",
        f"{tests} In-process unit-test synths turn the built-in validation off (tests/conftest.py); the "
        "example app's CLI synth keeps it on.",
        "## Machine",
        _table("|", (f"{name}|{value}" for name, value in machine.items())),
    ]
    return "\n\n".join(blocks) + "\n"


def _handler_blocks(handler: HandlerResults, low: int) -> list[str]:
    mb = handler.memory_mb
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
    return [
        "## Handler",
        f"""The handler runs from the staged asset of the N = {low} stack through the local kit's CloudFormation
(`cdk_dataexchange_auto_export.local.cloudformation`), each request in a fresh Lambda-like process (`.venv-lambda`'s
Python with `-I`: the standard library, boto3 and the asset only) against the local Data Exchange endpoint, answering to
a local HTTPS ResponseURL. Each round runs the floor (a module that only imports boto3 and makes a Data Exchange
client), a Create and a Delete, in turn, all through the same bootstrap. The asset, as staged in `cdk.out` and zipped
with deflate, as uploaded:""",
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
    ]


def _backfill_blocks(backfill: BackfillResults) -> list[str]:
    mb, sizes, hand_overs = backfill.memory_mb, backfill.payload_bytes, backfill.hand_overs
    largest = max(hand_overs or sizes, key=lambda number: sizes[number])
    figures = [
        f"Revisions seeded (finalized, one asset each)|{backfill.seeded:,}",
        f"End event|{backfill.outcome_text}",
        f"Wall time, deploy to the last invocation's end|{backfill.seconds:.0f} s "
        f"({backfill.exported / backfill.seconds:.0f} exports per second)",
        f"Worker invocations|{len(sizes)} ({len(hand_overs)} hand-over(s))",
        f"Largest payload, JSON as sent|{sizes[largest]:,} B (invocation {largest}; "
        f"{sizes[largest] / bf.ASYNC_PAYLOAD_LIMIT:.2%} of Lambda's 1 MB); the Create's: {sizes.get(1, 0):,} B",
        f"Worker's peak memory (VmHWM)|{backfill.peak_kb / 1024:.0f} MB of its {mb} MB "
        f"({backfill.peak_kb / 1024 / mb:.0%})",
        f"Data Exchange calls|{sum(backfill.calls.values()):,}, {backfill.per_revision():.2f} per exported revision, "
        f"{backfill.errors} answered with an error",
    ]
    calls = [f"{name}|{count:,}|{backfill.per_revision(name):.3f}" for name, count in backfill.calls.items()]
    return [
        "## Backfill",
        f"""{backfill.seeded:,} finalized revisions of one small asset each are seeded into a local Data Exchange (in
memory: saving its state file on every request would dominate), and the stack of `stacks.py backfill 1` (ours with
`export_existing_revisions=ExistingRevisions.ALL`, an owned bucket) is deployed through the local kit's `OfflineAws`
(`cdk_dataexchange_auto_export.local.aws`): the Create and every worker invocation run from the same staged asset in the
Lambda-like runtime, a fresh process each, the worker handing over to itself through the local Lambda Invoke
(asynchronous). An export job ends after {bf.JOB_TICKS} requests to the endpoint (its simulated clock, `job_ticks`):
short, so that {backfill.seeded:,} jobs take minutes rather than the hours they would in AWS, yet longer than one
request. The worker's timeout is {bf.WORKER_TIMEOUT_SECONDS} s here instead of the template's 15 minutes, so that it
hands over (with a quarter of it left) several times within the run. Calls are the endpoint's call log, those signed
with the worker's access key; payloads as the invocations received them; memory sampled from /proc every
{measure.SAMPLE_SECONDS:g} s, the largest VmHWM among the worker's processes, against the worker function's MemorySize
in the template.""",
        _table("Measured|Value", figures),
        "The worker's Data Exchange calls by operation:",
        _table("Operation|Calls|Per exported revision", calls),
        f"""The Create with {bf.CREATE_SEEDED:,} revisions seeded, a fresh local Data Exchange each time (process start
to response, as for the handler above); each stack is destroyed right after, which stops its worker:""",
        _table("Request|Samples|Median s|Min s|Max s", [f"Create|{_stats(backfill.create_seconds, 2)}"]),
        *_backfill_time_blocks(backfill),
    ]


def _duration(seconds: float) -> str:
    """A duration as a person reads it: minutes, hours or days."""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def backfill_time_rows(backfill: BackfillResults) -> list[str]:
    """The table of a backfill's time and cost, one row per run (the README quotes rows of it)."""
    return [
        f"{chain.revisions:,}|{chain.job_seconds / 60:g} min|{_duration(chain.floor_seconds)}|"
        f"{_duration(chain.seconds)}|{chain.over_floor:+.1%}|{chain.invocations:,}|{chain.calls_per_revision:.2f}|"
        f"{chain.gb_seconds:,.0f}|${chain.cost:,.2f}"
        for chain in backfill.chains
    ]


def _backfill_time_blocks(backfill: BackfillResults) -> list[str]:
    chains = backfill.chains
    memory = chains[0].memory_mb
    calls = [
        f"{chain.revisions:,} x {chain.job_seconds} s|"
        + ", ".join(f"{name} {count / chain.revisions:.2f}" for name, count in chain.calls.items())
        for chain in chains
    ]
    return [
        "## Backfill time and cost",
        f"""The same worker in virtual time (`benchmarks/backfill_time.py`): export jobs last 30 s, 2 or 10 minutes on a
clock that the worker's waits move on and its 15-minute Lambda context counts down on, so that weeks of job time run
in minutes of real time ({sum(chain.real_seconds for chain in chains) / 60:.1f} min here for all of them). Each
invocation runs in this process against the local Data Exchange, hands over through the local Lambda's Invoke and ends
with the local EventBridge; the floor is the time the jobs take with the worker's {MAX_IN_FLIGHT} of the account's
5 concurrent export jobs busy all the time (revisions x job time / {MAX_IN_FLIGHT}). The cost is the worker's
Lambda requests and duration (GB-seconds at its {memory} MB, arm64; it is billed while it waits) and its end event, at
AWS's public prices for us-east-1 read on {prices.READ} (`benchmarks/prices.py`): ${prices.LAMBDA_PER_REQUEST * 1e6:.2f}
per million requests, ${prices.LAMBDA_ARM_PER_GB_SECOND} per GB-second, ${prices.EVENTBRIDGE_PER_EVENT * 1e6:.2f} per
million events; before the free tier, without the S3 requests and storage of the exported objects (the same however
they get there); Data Exchange's API calls are free.""",
        _table(
            "Revisions|Per job|Floor|Wall time|Over the floor|Invocations|Data Exchange calls per revision|"
            "GB-seconds|Cost (USD)",
            backfill_time_rows(backfill),
        ),
        "Data Exchange calls per revision, by operation:",
        _table("Run|Calls per revision", calls),
    ]
