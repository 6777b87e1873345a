"""The README's monthly cost is what the template runs at the prices it quotes: each row's invocations come from the
schedules the constructs deploy, its events from what a product's reconcile reports, and its dollars from the
formula, the prices (`benchmarks/prices.py`, the benchmark's too) and the per-invocation assumptions it states.
The backfill's table is quoted from BENCHMARKS.md, which `make bench` writes."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from support import DATA_SET, ENV, readme_table

from benchmarks import prices
from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportProduct
from cdk_dataexchange_auto_export._checks import runs_per_month
from tools.toolchain import REPO

COSTS = "## What it costs"
SECTION = (REPO / "README.md").read_text().split(COSTS + "\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def template() -> Template:
    """The worked figure's stack: one AutoExportEventAction and one AutoExportProduct, at their defaults."""
    stack = cdk.Stack(cdk.App(), "Costed", env=ENV)
    bucket = s3.Bucket(stack, "Landing")
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=bucket)
    AutoExportProduct(stack, "Product", product_id="prod-uexample0abc1d", bucket=bucket)
    return Template.from_stack(stack)


def stated(pattern: str) -> float:
    """A number the cost section states, found by the words around it."""
    match = re.search(pattern, SECTION)
    assert match, f"the README's cost section no longer says {pattern!r}"
    return float(match.group(1).replace(",", ""))


def dollars(amount: float) -> str:
    return f"${amount:.2g}" if amount < 0.01 else f"${amount:,.2f}"


def schedules(template: Template) -> dict[str, int]:
    """Invocations a month of the handler, by the rule that makes them (its logical id)."""
    handlers = {
        logical_id
        for logical_id, function in template.find_resources("AWS::Lambda::Function").items()
        if "handler" in function["Properties"].get("Description", "")
    }
    found = {}
    for logical_id, rule in template.find_resources("AWS::Events::Rule").items():
        expression = rule["Properties"].get("ScheduleExpression")
        targets = [target["Arn"]["Fn::GetAtt"][0] for target in rule["Properties"]["Targets"]]
        if expression and set(targets) <= handlers:
            found[logical_id] = runs_per_month(expression) or 0
    return found


def handler_memory_gb(template: Template) -> float:
    (memory,) = {
        function["Properties"]["MemorySize"]
        for function in template.find_resources("AWS::Lambda::Function").values()
        if "handler" in function["Properties"].get("Description", "")
    }
    return float(memory) / 1024


def monthly(invocations: int, events: int, seconds: float, log_kb: float, memory_gb: float) -> float:
    """The README's formula: Lambda requests and GB-seconds, a month's logs ingested and kept, the events put."""
    lambda_cost = invocations * (prices.LAMBDA_PER_REQUEST + seconds * memory_gb * prices.LAMBDA_ARM_PER_GB_SECOND)
    logs_gb = invocations * log_kb / 1_000_000
    logs_cost = logs_gb * (prices.LOGS_PER_GB_INGESTED + prices.LOGS_PER_GB_MONTH_STORED)
    return lambda_cost + logs_cost + events * prices.EVENTBRIDGE_PER_EVENT


def test_the_readme_quotes_the_prices_the_benchmark_uses_with_their_date() -> None:
    assert f"read on {prices.READ}" in SECTION
    assert stated(r"Lambda \$([\d.]+) per million requests") == pytest.approx(prices.LAMBDA_PER_REQUEST * 1e6)
    assert stated(r"\$([\d.]+) per GB-second") == pytest.approx(prices.LAMBDA_ARM_PER_GB_SECOND)
    assert stated(r"CloudWatch Logs \$([\d.]+) per GB ingested") == pytest.approx(prices.LOGS_PER_GB_INGESTED)
    assert stated(r"\$([\d.]+) per GB-month stored") == pytest.approx(prices.LOGS_PER_GB_MONTH_STORED)
    assert stated(r"EventBridge \$([\d.]+) per million events") == pytest.approx(prices.EVENTBRIDGE_PER_EVENT * 1e6)


def test_each_cost_row_is_what_the_deployed_schedules_run_at_those_prices(template: Template) -> None:
    seconds, log_kb = stated(r"([\d.]+) s billed"), stated(r"([\d.]+) KB of logs")
    memory_gb = handler_memory_gb(template)
    runs = schedules(template)
    # Given the two daily schedules the stack deploys: the provider's drift check and the product's reconcile
    assert sorted(runs.values()) == [30, 30]
    rows = readme_table(COSTS)
    # Then each row states those runs, a product's reconcile one event each, and what they cost
    by_what = {row["what"].split(" (")[0]: row for row in rows}
    assert set(by_what) == {"the drift check, per provider", "a product's reconcile, per `AutoExportProduct`"}
    expected: dict[str, Any] = {
        "the drift check, per provider": (30, 0),
        "a product's reconcile, per `AutoExportProduct`": (30, 30),
    }
    for what, (invocations, events) in expected.items():
        row = by_what[what]
        assert (int(row["invocations"]), int(row["events"])) == (invocations, events)
        assert row["USD"] == dollars(monthly(invocations, events, seconds, log_kb, memory_gb))


def test_the_worked_figure_adds_up_the_stacks_runs(template: Template) -> None:
    seconds, log_kb = stated(r"([\d.]+) s billed"), stated(r"([\d.]+) KB of logs")
    invocations = sum(schedules(template).values())
    events = 30  # the product's reconcile reports once a run
    assert stated(r"makes ([\d,]+) invocations a month") == invocations
    figure = re.search(r"invocations a month: (\$[\d.,]*\d)", SECTION)
    assert figure and figure.group(1) == dollars(
        monthly(invocations, events, seconds, log_kb, handler_memory_gb(template))
    )


def test_the_readme_quotes_the_backfill_figures_the_benchmark_measured() -> None:
    quoted = readme_table("#### How long a history takes, and what it costs")
    measured = readme_table("## Backfill time and cost", "BENCHMARKS.md")
    assert quoted and [row for row in quoted if row not in measured] == []
