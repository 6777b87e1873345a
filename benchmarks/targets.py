"""The issue's targets, each judged on the figures of this run."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from .handler import FUNCTION_MEMORY_MB, HandlerResults
from .suite import SuiteResult
from .synth import SynthResults

SYNTH_RATIO_LIMIT = 1.10
COLD_START_RATIO_LIMIT = 1.5
DELETE_SECONDS_LIMIT = 2.0
ASSET_LIMIT_BYTES = 64 * 1024
# "With room to spare": at most three quarters of the function's memory, leaving a quarter for what
# the real runtime adds on top of this process and for larger responses.
MEMORY_SHARE_LIMIT = 0.75

MET, NOT_MET, NOT_MEASURED, REPORTED = "met", "**not met**", "not measured in this run", "reported"


@dataclass(frozen=True)
class Target:
    name: str
    status: str
    figure: str


def evaluate(synth: SynthResults, handler: HandlerResults, suite: SuiteResult | None) -> list[Target]:
    return [
        *(_synth_ratio(synth, count) for count in (1, 100)),
        _resources_per_construct(synth),
        _one_function_and_role(synth),
        _bytes_per_construct(synth),
        _cold_start(handler),
        _delete_time(handler),
        _asset_size(handler),
        _memory(handler),
        _suite(suite),
    ]


def _judged(condition: bool) -> str:
    return MET if condition else NOT_MET


def _synth_ratio(synth: SynthResults, count: int) -> Target:
    name = f"Synth time ours/native ≤ {SYNTH_RATIO_LIMIT:.2f} at N = {count}"
    if count not in synth.counts:
        return Target(name, NOT_MEASURED, f"N = {count} was not synthesized")
    ratio = synth.ratio("ours", count)
    figure = f"{ratio:.2f} (median of same-round ratios)"
    if ("bare_lambda", count) in synth.cells:
        figure += f"; a bare Lambda function with no event action: {synth.ratio('bare_lambda', count):.2f}"
    return Target(name, _judged(ratio <= SYNTH_RATIO_LIMIT), figure)


def _resources_per_construct(synth: SynthResults) -> Target:
    steps = [
        (low, high, synth.cell("ours", high).metrics.resources - synth.cell("ours", low).metrics.resources)
        for low, high in pairwise(synth.counts)
    ]
    figure = "; ".join(f"N {low}→{high}: +{grown} for +{high - low}" for low, high, grown in steps)
    return Target(
        "Resources grow by exactly one per added construct",
        _judged(all(grown == high - low for low, high, grown in steps)),
        figure,
    )


def _one_function_and_role(synth: SynthResults) -> Target:
    metrics = [synth.cell("ours", count).metrics for count in synth.counts]
    figure = ", ".join(
        f"N = {count}: {m.functions} function(s), {m.roles} role(s)"
        for count, m in zip(synth.counts, metrics, strict=True)
    )
    return Target(
        "One Lambda function and one role for any N",
        _judged(all(m.functions == 1 and m.roles == 1 for m in metrics)),
        figure,
    )


def _bytes_per_construct(synth: SynthResults) -> Target:
    ours, native = synth.bytes_per_construct("ours"), synth.bytes_per_construct("native")
    return Target(
        "Template bytes per added construct ≤ native's",
        _judged(ours <= native),
        f"{ours:.0f} B vs {native:.0f} B (N {synth.counts[0]}→{synth.counts[-1]})",
    )


def _cold_start(handler: HandlerResults) -> Target:
    ratio = handler.cold_start_ratio
    return Target(
        f"Handler cold start ≤ {COLD_START_RATIO_LIMIT} x the bare-boto3 floor",
        _judged(ratio <= COLD_START_RATIO_LIMIT),
        f"{ratio:.2f}x ({handler.median_init_seconds * 1000:.0f} ms vs {handler.median_floor_seconds * 1000:.0f} ms)",
    )


def _delete_time(handler: HandlerResults) -> Target:
    slowest = max(invocation.seconds for invocation in handler.deletes)
    return Target(
        f"Delete answers in under {DELETE_SECONDS_LIMIT:.0f} s",
        _judged(slowest < DELETE_SECONDS_LIMIT),
        f"slowest of {len(handler.deletes)}: {slowest:.2f} s, fresh process to response",
    )


def _asset_size(handler: HandlerResults) -> Target:
    asset = handler.asset
    return Target(
        f"Lambda asset ≤ {ASSET_LIMIT_BYTES // 1024} KB (unzipped, the stricter reading)",
        _judged(asset.unzipped_bytes <= ASSET_LIMIT_BYTES),
        f"{asset.unzipped_bytes / 1024:.1f} KB unzipped, {asset.zipped_bytes / 1024:.1f} KB zipped",
    )


def _memory(handler: HandlerResults) -> Target:
    peak_mb = handler.peak_rss_kb / 1024
    return Target(
        f"An invocation fits in {FUNCTION_MEMORY_MB} MB with room to spare (≤ {MEMORY_SHARE_LIMIT:.0%})",
        _judged(peak_mb <= FUNCTION_MEMORY_MB * MEMORY_SHARE_LIMIT),
        f"peak {peak_mb:.0f} MB = {peak_mb / FUNCTION_MEMORY_MB:.0%} of {FUNCTION_MEMORY_MB} MB (VmHWM)",
    )


def _suite(suite: SuiteResult | None) -> Target:
    name = "The test suite stays quick (no number set by the issue)"
    if suite is None:
        return Target(name, NOT_MEASURED, "run with --with-tests")
    return Target(name, REPORTED if suite.passed else NOT_MET, f"{suite.seconds:.0f} s: {suite.summary}")
