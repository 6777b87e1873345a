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

from collections.abc import Mapping, Sequence
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


def failure_notification(
    bucket_name: str, *, data_set_id: str | None = None, product_id: str | None = None
) -> events.RuleTargetInput:
    """A message a person can act on, from the documented fields only, about a data set's exports or a
    product's: a data set's name is in `detail.DataSets`, next to its id (an event may name several data
    sets); the command's revision is the event's first, as an auto-export job exports one revision; our own
    failure events (a backfill that died, a product reconcile) say why in `detail.Reason`."""
    field = events.EventField.from_path
    if product_id is not None:
        subject = f"product {product_id}, data sets {field('$.detail.DataSetIds')} {field('$.detail.DataSets')}"
        data_set = field("$.detail.DataSetIds[0]")
    else:
        subject, data_set = f"data set {data_set_id} {field('$.detail.DataSets')}", str(data_set_id)
    return events.RuleTargetInput.from_text(
        f"Data Exchange {field('$.detail-type')} at {field('$.time')}: {subject}, revisions "
        f"{field('$.detail.RevisionIds')}, to s3://{bucket_name}. {field('$.detail.Reason')} The errors of an "
        f"export are in its job: aws dataexchange list-jobs --data-set-id {data_set} --revision-id "
        f"{field('$.detail.RevisionIds[0]')}, then aws dataexchange get-job --job-id <its Id>."
    )
