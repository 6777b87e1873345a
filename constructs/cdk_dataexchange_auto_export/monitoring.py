"""What Data Exchange tells EventBridge about auto-exports (and the backfill worker about its exports), as
rules, metrics and a message.

Data Exchange sends `Auto-export Job Completed` and `Auto-export Job Failed` events (source
`aws.dataexchange`, best-effort delivery) to the default bus of the data set's Region. They carry
`detail.DataSetIds`, `detail.DataSets[{Id, Name}]` and `detail.RevisionIds`; their `resources` hold
the product id, so a rule filters on `detail.DataSetIds` (an array matches if any element does). The
user guide spells the failure `Auto-Export job failed` in its example and `Auto-export Job Failed` in
its table: detail-types match ignoring case. The events name no job and no error text.

Imported only when a construct's monitoring is used: a construct without it pays nothing for it.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events

from dataexchange_auto_export_handler.properties import BACKFILL_SOURCE

Outcome = Literal["failed", "completed"]
SOURCES = ["aws.dataexchange", BACKFILL_SOURCE]
# Data Exchange's, then the backfill worker's, which carries detail.DataSetIds and RevisionIds alike.
DETAIL_TYPES: dict[Outcome, tuple[str, str]] = {
    "failed": ("Auto-export Job Failed", "Backfill Failed"),
    "completed": ("Auto-export Job Completed", "Backfill Completed"),
}


def export_events(outcome: Outcome, data_set_id: str) -> dict[str, Any]:
    """The event pattern of one outcome of exports of one data set, as `Rule.add_event_pattern` takes it."""
    return {
        "source": SOURCES,
        "detail_type": [item for name in DETAIL_TYPES[outcome] for item in events.Match.equals_ignore_case(name)],
        "detail": {"DataSetIds": [data_set_id]},
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


def failure_notification(data_set_id: str, bucket_name: str) -> events.RuleTargetInput:
    """A message a person can act on, from the documented fields only: a data set's name is in
    `detail.DataSets`, next to its id (an event may name several data sets); the command's revision
    is the event's first, as an auto-export job exports one revision."""
    field = events.EventField.from_path
    return events.RuleTargetInput.from_text(
        f"Data Exchange {field('$.detail-type')} at {field('$.time')}: data set {data_set_id} "
        f"{field('$.detail.DataSets')}, revisions {field('$.detail.RevisionIds')}, to s3://{bucket_name}. "
        f"The errors are in the export job: aws dataexchange list-jobs --data-set-id {data_set_id} "
        f"--revision-id {field('$.detail.RevisionIds[0]')}, then aws dataexchange get-job --job-id <its Id>."
    )
