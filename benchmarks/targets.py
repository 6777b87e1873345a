"""The targets, each judged on a run's figures: a row `what is held to a limit|met, not met or not measured|figure`."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from statistics import median
from typing import NamedTuple

from tools.asset_budget import ASSET_BUDGET_BYTES

from .backfill import ASYNC_PAYLOAD_LIMIT, CREATE_SEEDED, PAGING, BackfillResults
from .measure import IMPORTED, REQUESTS, HandlerResults, SynthResults

# The limits: synth per added construct as a share of AwsCustomResource's, and time ours/native at RATIO_N; cold start
# over the floor's; Delete and
# Create seconds; a function's memory share ("room to spare": a quarter left for what the real runtime adds and for
# larger responses); calls per exported revision (a job's worth, GetEventAction, CreateJob, StartJob and GetJob, its
# revision's earlier jobs, ListJobs, and one more for polls and paging; in virtual time, where a running job is read
# two or three times and an invocation claims and checks its chain in five calls, 0.4 per revision with 10-minute
# jobs, three more); a hand-over payload's share of Lambda's limit (a cursor and a page of revision ids, whatever
# the data set); a backfill's time over its floor, with two jobs in flight all the time.
SLOPE_SHARE, RATIO_N, COLD_START, DELETE_SECONDS, CREATE_SECONDS = 0.75, 100, 1.5, 2.0, 2.0
# At N = 1 ours may trail AwsCustomResource by this much (time over native's): both import aws_lambda once, which
# any app with a function pays anyway, and ours stages its asset. A product may cost this many ms per construct:
# a custom resource, two rules and their two permissions, some five times an event action's resources.
SMALL_N_MARGIN, PRODUCT_SLOPE_MS = 0.05, 25.0
# aws-cdk-lib's CustomResource writes "DeletionPolicy": "Delete" and "UpdateReplacePolicy": "Delete" (67 bytes as
# the template is written, with the comma before them), CloudFormation's defaults, which the native resource leaves out.
REMOVAL_POLICY_BYTES = 67
MEMORY_SHARE, CALLS_PER_REVISION, TIMED_CALLS_PER_REVISION, PAYLOAD_SHARE, OVER_FLOOR = 0.75, 6, 9, 0.01, 0.10
BUCKETS = {"": "owned bucket", IMPORTED: "imported bucket"}
STATUS = {None: "not measured in this run", True: "met", False: "**not met**"}
Judged = tuple[str, bool | None, str]


class SuiteResult(NamedTuple):
    seconds: float
    passed: bool
    summary: str


def evaluate(
    synth: SynthResults, handler: HandlerResults, backfill: BackfillResults, suite: SuiteResult | None
) -> list[str]:
    """Each target as a row: what is held to a limit|met, not met or not measured|the figure."""
    suite_text = f"{suite.seconds:.0f} s: {suite.summary}" if suite else "run with --with-tests"
    judged = [
        *_synth(synth),
        *_footprint(synth),
        *_handler(handler),
        *_backfill(backfill),
        ("The test suite passes (its time is reported, against no limit)", suite.passed if suite else None, suite_text),
    ]
    return [f"{name}|{STATUS[ok]}|{figure}" for name, ok, figure in judged]


def _synth(synth: SynthResults) -> list[Judged]:
    low, high = synth.counts[0], synth.counts[-1]
    judged: list[Judged] = []
    for suffix, bucket in BUCKETS.items():
        ours, awscr, native = (synth.in_process_ms(kind + suffix) for kind in ("ours", "awscr", "native"))
        whole = {kind: synth.slope(kind + suffix, "seconds") * 1000 for kind in ("ours", "awscr")}
        judged.append(
            (
                f"Synth per added construct ≤ {SLOPE_SHARE:g} x AwsCustomResource's, {bucket}",
                ours <= SLOPE_SHARE * awscr,
                f"{ours:.1f} ms vs {awscr:.1f} ms timed in one process, N {low}→{high} (native: {native:.1f} ms); "
                f"whole-process synths: {whole['ours']:.1f} ms vs {whole['awscr']:.1f} ms",
            )
        )
    for suffix, bucket in BUCKETS.items():
        name = f"At N = {RATIO_N}, ours/native < AwsCustomResource/native in the same run, {bucket}"
        if RATIO_N not in synth.counts:
            judged.append((name, None, f"N = {RATIO_N} was not synthesized"))
            continue
        ours, awscr = (synth.ratio(kind + suffix, RATIO_N) for kind in ("ours", "awscr"))
        judged.append((name, ours < awscr, f"{ours:.2f} vs {awscr:.2f} (medians of same-round ratios)"))
    ours, awscr, bare, provider = (synth.ratio(kind, low) for kind in ("ours", "awscr", "bare_lambda", "provider"))
    judged.append(
        (
            f"At N = {low}, ours/native ≤ AwsCustomResource/native + {SMALL_N_MARGIN} (owned bucket)",
            ours <= awscr + SMALL_N_MARGIN,
            f"{ours:.2f} vs {awscr:.2f}; with no event action, a bare Lambda function: {bare:.2f}, "
            f"our provider alone: {provider:.2f}",
        )
    )
    product = synth.in_process_ms("product")
    judged.append(
        (
            f"Synth per added AutoExportProduct ≤ {PRODUCT_SLOPE_MS:g} ms",
            product <= PRODUCT_SLOPE_MS,
            f"{product:.1f} ms timed in one process, N {low}→{synth.in_process['product']['high_count'][0]:g}",
        )
    )
    warnings = synth.cells["ours" + IMPORTED, high].warnings
    named = [n for n in range(high) if any(re.search(rf"\bExport{n}\b", warning) for warning in warnings)]
    judged.append(
        (
            "The imported-bucket warning appears once per bucket, naming every construct that needs it",
            len(warnings) == 1 and len(named) == high,
            f"{len(warnings)} warning(s) for the one imported bucket at N = {high}, "
            f"naming {len(named)} of the {high} construct ids",
        )
    )
    return judged


def _both_buckets(check: Callable[[str], tuple[bool, str]]) -> tuple[bool, str]:
    """A check of ours with each bucket: met with both; the figures side by side."""
    (owned, owned_text), (imported, imported_text) = (check(suffix) for suffix in BUCKETS)
    return owned and imported, f"owned: {owned_text}; imported: {imported_text}"


def _footprint(synth: SynthResults) -> list[Judged]:
    counts = synth.counts

    def resources(suffix: str) -> tuple[bool, str]:
        ours = {count: synth.cells["ours" + suffix, count].footprint["Resources"] for count in counts}
        steps = [(a, b, ours[b] - ours[a]) for a, b in pairwise(counts)]
        return all(grown == b - a for a, b, grown in steps), ", ".join(f"+{g} for +{b - a}" for a, b, g in steps)

    def functions(suffix: str) -> tuple[bool, str]:
        each = [synth.cells["ours" + suffix, count].footprint for count in counts]
        found = {(footprint["Lambda functions"], footprint["IAM roles"]) for footprint in each}
        return found == {(1, 1)}, " or ".join(f"{f} function(s), {r} role(s)" for f, r in sorted(found))

    def template_bytes(suffix: str) -> tuple[bool, str]:
        ours, native = (synth.slope(kind + suffix, "Template bytes") for kind in ("ours", "native"))
        return ours <= native + REMOVAL_POLICY_BYTES, f"{ours:.0f} B vs {native:.0f} B"

    steps = ", ".join(f"N {a}→{b}" for a, b in pairwise(counts))
    return [
        (f"Resources grow by exactly one per added construct ({steps})", *_both_buckets(resources)),
        (f"One Lambda function and one role for any N ({', '.join(map(str, counts))})", *_both_buckets(functions)),
        (
            f"Template bytes per added construct ≤ native's + {REMOVAL_POLICY_BYTES} B, the removal policies "
            f"CustomResource writes out (N {counts[0]}→{counts[-1]})",
            *_both_buckets(template_bytes),
        ),
    ]


def _handler(handler: HandlerResults) -> list[Judged]:
    init, floor = median(handler.init_ms(*REQUESTS)), median(handler.init_ms("Floor"))
    deletes = [execution.seconds for execution in handler.executions["Delete"]]
    mb, peak = handler.memory_mb, max(handler.peak_kb[name] for name in REQUESTS) / 1024
    zipped = handler.asset["Zipped bytes"]
    return [
        (
            f"Handler cold start ≤ {COLD_START} x the bare-boto3 floor",
            init / floor <= COLD_START,
            f"{init / floor:.2f}x ({init:.0f} ms vs {floor:.0f} ms)",
        ),
        (
            f"Delete answers in under {DELETE_SECONDS:.0f} s",
            max(deletes) < DELETE_SECONDS,
            f"slowest of {len(deletes)}: {max(deletes):.2f} s, fresh process to response",
        ),
        (
            f"Lambda asset ≤ {ASSET_BUDGET_BYTES // 1024} KB, zipped as uploaded",
            zipped <= ASSET_BUDGET_BYTES,
            f"{zipped / 1024:.1f} KB zipped ({handler.asset['Unzipped bytes'] / 1024:.1f} KB unzipped)",
        ),
        _fits("An invocation fits in", peak, mb),
    ]


def _backfill(backfill: BackfillResults) -> list[Judged]:
    creates = backfill.create_seconds
    per, paging = backfill.per_revision(), backfill.per_revision(*PAGING)
    hand_overs = list(backfill.hand_overs.values())
    payload: Judged = ("A hand-over payload stays a small cursor", None, "no hand-over in this run")
    if hand_overs:
        payload = (
            f"A hand-over payload stays a small cursor (≤ {PAYLOAD_SHARE:.0%} of Lambda's 1 MB async payload limit)",
            max(hand_overs) <= PAYLOAD_SHARE * ASYNC_PAYLOAD_LIMIT,
            f"largest of {len(hand_overs)}: {max(hand_overs)} B ({max(hand_overs) / ASYNC_PAYLOAD_LIMIT:.2%} of 1 MB)",
        )
    return [
        (
            f"The Create answers in under {CREATE_SECONDS:.0f} s with {CREATE_SEEDED:,} revisions seeded "
            "(ExistingRevisions.ALL)",
            max(creates) < CREATE_SECONDS,
            f"slowest of {len(creates)}: {max(creates):.2f} s, process start to response, the backfill still to run",
        ),
        (
            f"A backfill of {backfill.seeded:,} existing revisions exports every one",
            backfill.outcome == "Backfill Completed" and backfill.exported == backfill.seeded,
            f"{backfill.outcome_text}, in {len(backfill.payload_bytes)} invocation(s), {backfill.seconds:.0f} s",
        ),
        (
            f"Data Exchange calls: a job's worth per exported revision, its earlier jobs and paging "
            f"(≤ {CALLS_PER_REVISION})",
            per <= CALLS_PER_REVISION,
            f"{per:.2f} per exported revision, paging {paging:.3f} of it",
        ),
        payload,
        _fits("The backfill worker fits in its", backfill.peak_kb / 1024, backfill.memory_mb),
        *_backfill_time(backfill),
    ]


def _backfill_time(backfill: BackfillResults) -> list[Judged]:
    chains = backfill.chains
    worst = max(chains, key=lambda chain: chain.over_floor)
    calls = max(chains, key=lambda chain: chain.calls_per_revision)
    runs = ", ".join(f"{chain.revisions:,} x {chain.job_seconds} s" for chain in chains)
    return [
        (
            f"A backfill takes at most {OVER_FLOOR:.0%} longer than its floor (revisions x job time / 2 jobs in "
            f"flight), in virtual time ({runs})",
            worst.over_floor <= OVER_FLOOR,
            f"worst {worst.over_floor:+.1%} ({worst.revisions:,} revisions x {worst.job_seconds} s), best "
            f"{min(chain.over_floor for chain in chains):+.1%}",
        ),
        (
            f"Data Exchange calls per revision in virtual time ≤ {TIMED_CALLS_PER_REVISION}",
            calls.calls_per_revision <= TIMED_CALLS_PER_REVISION,
            f"at most {calls.calls_per_revision:.2f} ({calls.revisions:,} revisions x {calls.job_seconds} s)",
        ),
    ]


def _fits(subject: str, peak: float, mb: int) -> Judged:
    """A function's peak memory (MB) against its MemorySize, with room to spare."""
    return (
        f"{subject} {mb} MB with room to spare (≤ {MEMORY_SHARE:.0%})",
        peak / mb <= MEMORY_SHARE,
        f"peak {peak:.0f} MB = {peak / mb:.0%} of {mb} MB (VmHWM)",
    )
