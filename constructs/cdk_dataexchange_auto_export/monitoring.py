"""What Data Exchange tells EventBridge about auto-exports (and the backfill worker about its exports), as
rules, metrics and a message.

Data Exchange sends `Auto-export Job Completed` and `Auto-export Job Failed` events (source
`aws.dataexchange`, best-effort delivery) to the default bus of the data set's Region. They carry
`detail.DataSetIds`, `detail.DataSets[{Id, Name}]` and `detail.RevisionIds`; their `resources` hold
the product id, so a rule filters on `detail.DataSetIds` (an array matches if any element does). The
user guide spells the failure `Auto-Export job failed` in its example and `Auto-export Job Failed` in
its table: detail-types match ignoring case. The events name no job and no error text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events

from dataexchange_auto_export_handler.contract import (
    AUTO_EXPORT_COMPLETED,
    AUTO_EXPORT_FAILED,
    DATA_EXCHANGE_SOURCE,
    EVENT_SOURCE,
    Detail,
    DetailType,
    Property,
)

Outcome = Literal["failed", "completed"]
SOURCES = [DATA_EXCHANGE_SOURCE, EVENT_SOURCE]
# Data Exchange's, then the backfill worker's, which carries detail.DataSetIds and RevisionIds alike.
DETAIL_TYPES: dict[Outcome, tuple[str, str]] = {
    "failed": (AUTO_EXPORT_FAILED, DetailType.BACKFILL_FAILED),
    "completed": (AUTO_EXPORT_COMPLETED, DetailType.BACKFILL_COMPLETED),
}


def data_set_match(data_set_id: str) -> dict[str, Any]:
    """Events about one data set: auto-export and backfill events list it in detail.DataSetIds."""
    return {"detail": {Detail.DATA_SET_IDS: [data_set_id]}}


def product_match(product_id: str) -> dict[str, Any]:
    """Events about a product's data sets: auto-export events (and the backfill and reconcile events of a
    product's construct) name the product in `resources`."""
    return {"resources": [product_id]}


def drift_events(stack_id: str, logical_id: str) -> dict[str, Any]:
    """The event pattern, as `Rule.add_event_pattern` takes it, of the drift reports of one resource of one stack:
    the handler names both in the detail (a logical id is unique in its stack, a stack id in the account)."""
    return {
        "source": [EVENT_SOURCE],
        "detail_type": [DetailType.DRIFT_DETECTED],
        "detail": {Detail.STACK_ID: [stack_id], Detail.LOGICAL_ID: [logical_id]},
    }


def export_events(outcome: Outcome, match: Mapping[str, Any], extra_types: Sequence[str] = ()) -> dict[str, Any]:
    """The event pattern of one outcome of exports, as `Rule.add_event_pattern` takes it: `match` selects
    what is exported, `extra_types` are more detail types of that outcome."""
    names = [*DETAIL_TYPES[outcome], *extra_types]
    return {
        "source": SOURCES,
        "detail_type": [item for name in names for item in events.Match.equals_ignore_case(name)],
        **match,
    }


def triggered_rules(rule: events.IRule, **options: Any) -> cloudwatch.Metric:
    """How often `rule` matched. EventBridge's monitoring guide lists `TriggeredRules` (namespace
    AWS/Events) as the number of rules that matched an event, with dimension `RuleName` for a rule of
    the default bus; `MatchedEvents` has no rule dimension and `Invocations` counts target invocations.
    EventBridge publishes `TriggeredRules` only once a rule has matched and on a best-effort basis, so
    a quiet period is missing data, not zero."""
    return cloudwatch.Metric(
        **{
            "namespace": "AWS/Events",
            "metric_name": "TriggeredRules",
            "dimensions_map": {"RuleName": rule.rule_name},
            "statistic": "Sum",
            "period": Duration.minutes(5),
            **options,
        }
    )


def failure_notification(bucket_name: str, subject: str, subject_value: str) -> events.RuleTargetInput:
    """A message a person can act on, from the documented fields only, about a data set's exports or a
    product's: a data set's name is in `detail.DataSets`, next to its id (an event may name several data
    sets); the command's revision is the event's first, as an auto-export job exports one revision; our own
    failure events (a backfill that died, a product reconcile) say why in `detail.Reason`. `subject` is the resource
    property that names what is exported, a data set's id or a product's."""

    def field(name: str) -> str:
        return events.EventField.from_path(f"$.detail.{name}")

    data_sets, revisions = field(Detail.DATA_SET_IDS), field(Detail.REVISION_IDS)
    if subject == Property.PRODUCT_ID:
        what, data_set = (
            f"product {subject_value}, data sets {data_sets} {field('DataSets')}",
            field(f"{Detail.DATA_SET_IDS}[0]"),
        )
    else:
        what, data_set = f"data set {subject_value} {field('DataSets')}", subject_value
    when = f"{events.EventField.from_path('$.detail-type')} at {events.EventField.from_path('$.time')}"
    return events.RuleTargetInput.from_text(
        f"Data Exchange {when}: {what}, revisions {revisions}, to s3://{bucket_name}. {field(Detail.REASON)} For a "
        f"failed export, its job holds the errors: aws dataexchange list-jobs --data-set-id {data_set} --revision-id "
        f"{field(f'{Detail.REVISION_IDS}[0]')}, then aws dataexchange get-job --job-id <its Id>."
    )


def drift_notification() -> events.RuleTargetInput:
    """A drift report's message: the report's own sentence (which construct of which stack, what it deployed, what was
    found, the deploy that repairs it). A report names no revision and no job, so the failed export's hint of
    `failure_notification` would only mislead."""
    when = f"{events.EventField.from_path('$.detail-type')} at {events.EventField.from_path('$.time')}"
    return events.RuleTargetInput.from_text(
        f"Data Exchange {when}: {events.EventField.from_path(f'$.detail.{Detail.REASON}')}"
    )
