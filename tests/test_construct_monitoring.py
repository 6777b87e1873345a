"""Knowing when exports stop: rules, metrics, the failure message and the alert topic, as CloudFormation sees them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from support import DATA_SET, ENV, GUIDE_DATA_SET, ThreeExports, documented_event, logical_id, only

from cdk_dataexchange_auto_export import AutoExportEventAction
from cdk_dataexchange_auto_export.local.eventbridge import Rule

# Data Exchange's detail-type, then the backfill worker's, each ignoring case
FAILED = [{"equals-ignore-case": "Auto-export Job Failed"}, {"equals-ignore-case": "Backfill Failed"}]
COMPLETED = [{"equals-ignore-case": "Auto-export Job Completed"}, {"equals-ignore-case": "Backfill Completed"}]
SOURCES = ["aws.dataexchange", "cdk-dataexchange-auto-export"]


@dataclass
class Monitored:
    stack: cdk.Stack
    export: AutoExportEventAction
    token_export: AutoExportEventAction
    topic: sns.Topic
    key: kms.Key
    queue: sqs.Queue
    failed: events.Rule
    completed: events.Rule
    on_completed_plain: events.Rule
    token_failed: events.Rule
    metric: cloudwatch.Metric
    alarm: cloudwatch.Alarm
    template: Template


@pytest.fixture(scope="module")
def monitored(new_cdk_app: Callable[..., cdk.App]) -> Monitored:
    stack = cdk.Stack(new_cdk_app(), "Monitored", env=ENV)
    bucket = cdk.aws_s3.Bucket(stack, "Destination")
    key = kms.Key(stack, "AlertKey")
    topic = sns.Topic(stack, "Alerts", master_key=key)
    queue = sqs.Queue(stack, "Failures")
    export = AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=bucket, alert_topic=topic)
    failed = export.on_export_failed("Failed", target=targets.SqsQueue(queue), description="failures", rule_name="f")
    completed = export.on_export_completed(
        "Completed", event_pattern=events.EventPattern(detail={"Revisions": {"Comment": events.Match.prefix("daily")}})
    )
    token_export = AutoExportEventAction(
        stack, "TokenExport", data_set_id=cdk.CfnParameter(stack, "DataSetId").value_as_string, bucket=bucket
    )
    token_failed = token_export.on_export_failed("Failed", event_pattern=events.EventPattern(region=["eu-west-1"]))
    on_completed_plain = export.on_export_completed("CompletedPlain")
    metric = export.metric_failed_exports(period=cdk.Duration.minutes(15))
    alarm = metric.create_alarm(
        stack,
        "ExportsFail",
        threshold=1,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    return Monitored(
        stack, export, token_export, topic, key, queue, failed, completed, on_completed_plain, token_failed, metric,
        alarm, Template.from_stack(stack),
    )  # fmt: skip


def rule(monitored: Monitored, construct: events.Rule) -> dict[str, Any]:
    return monitored.template.to_json()["Resources"][logical_id(monitored.stack, construct)]  # type: ignore[no-any-return]


def test_on_export_failed_matches_failures_of_this_data_set_ignoring_case(monitored: Monitored) -> None:
    failed = rule(monitored, monitored.failed)
    assert failed["Properties"]["EventPattern"] == {
        "source": SOURCES,
        "detail-type": FAILED,
        "detail": {"DataSetIds": [DATA_SET]},
    }
    assert (failed["Properties"]["Description"], failed["Properties"]["Name"]) == ("failures", "f")
    [target] = failed["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(monitored.stack, monitored.queue), "Arn"]}


def test_on_export_completed_merges_the_users_pattern_on_top(monitored: Monitored) -> None:
    completed = rule(monitored, monitored.completed)
    assert completed["Properties"]["EventPattern"] == {
        "detail": {"Revisions": {"Comment": [{"prefix": "daily"}]}, "DataSetIds": [DATA_SET]},
        "source": SOURCES,
        "detail-type": COMPLETED,
    }
    assert "Targets" not in completed["Properties"]


def test_a_data_set_id_from_a_parameter_is_matched_as_deployed_under_the_users_pattern(monitored: Monitored) -> None:
    token_failed = rule(monitored, monitored.token_failed)
    assert token_failed["Properties"]["EventPattern"] == {
        "region": ["eu-west-1"],
        "source": SOURCES,
        "detail-type": FAILED,
        "detail": {"DataSetIds": [{"Ref": "DataSetId"}]},
    }


def test_the_metric_counts_the_matches_of_a_rule_of_its_own(monitored: Monitored) -> None:
    # The metric names the construct's own rule, the one the alert topic also sends from
    rules = monitored.template.find_resources("AWS::Events::Rule")
    alert_rule_id, alert_rule = only(
        {key: value for key, value in rules.items() if key.startswith("ExportFailedExports")}
    )
    assert alert_rule["Properties"]["EventPattern"]["detail-type"] == FAILED
    monitored.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Events",
            "MetricName": "TriggeredRules",
            "Dimensions": [{"Name": "RuleName", "Value": {"Ref": alert_rule_id}}],
            "Statistic": "Sum",
            "Period": 900,
            "TreatMissingData": "notBreaching",
        },
    )


def test_metrics_default_to_the_sum_over_five_minutes_and_make_their_rule_once(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Metrics", env=ENV)
    export = AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=cdk.aws_s3.Bucket(stack, "B"))

    first, second = export.metric_completed_exports(), export.metric_completed_exports(label="done")

    assert (first.namespace, first.metric_name, first.statistic, first.period.to_seconds()) == (
        "AWS/Events",
        "TriggeredRules",
        "Sum",
        300,
    )
    assert second.label == "done"
    rules = Template.from_stack(stack).find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": Match.any_value()}}
    )
    assert [r["Properties"]["EventPattern"]["detail-type"] for r in rules.values()] == [COMPLETED]


def test_the_alert_topic_gets_every_failure_with_the_failure_notification(monitored: Monitored) -> None:
    topic_id = logical_id(monitored.stack, monitored.topic)
    alert_rules = [
        r
        for r in monitored.template.find_resources("AWS::Events::Rule").values()
        if r["Properties"].get("Targets", [{}])[0].get("Arn") == {"Ref": topic_id}
    ]
    # Failed exports, and drift reports of the construct's event action, each with its own message: a report's is
    # its own sentence, with nothing of a failed export's revision or job
    alert, drift = alert_rules
    assert alert["Properties"]["EventPattern"]["detail-type"] == FAILED
    assert drift["Properties"]["EventPattern"]["detail-type"] == ["Export Drift Detected"]
    assert drift["Properties"]["Targets"][0]["InputTransformer"] == {
        "InputPathsMap": {"detail-type": "$.detail-type", "time": "$.time", "detail-Reason": "$.detail.Reason"},
        "InputTemplate": '"Data Exchange <detail-type> at <time>: <detail-Reason>"',
    }
    transformer = alert["Properties"]["Targets"][0]["InputTransformer"]
    assert transformer["InputPathsMap"] == {
        "detail-type": "$.detail-type",
        "time": "$.time",
        "detail-DataSets": "$.detail.DataSets",
        "detail-RevisionIds": "$.detail.RevisionIds",
        "detail-RevisionIds-0-": "$.detail.RevisionIds[0]",
        # Why a failure of our own (a backfill that died) happened; empty for Data Exchange's events
        "detail-Reason": "$.detail.Reason",
    }
    # EventBridge may publish to the topic, and use its key
    monitored.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {"PolicyDocument": {"Statement": [Match.object_like({"Principal": {"Service": "events.amazonaws.com"}})]}},
    )
    key_policy = monitored.template.to_json()["Resources"][logical_id(monitored.stack, monitored.key)]
    grants = [s for s in key_policy["Properties"]["KeyPolicy"]["Statement"] if s["Principal"].get("Service")]
    assert grants == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        }
    ]


def test_the_failure_notification_names_what_failed_where_and_how_to_see_why(monitored: Monitored) -> None:
    rendered = monitored.stack.resolve(monitored.export.failure_notification().bind(monitored.failed))
    template = "".join(str(part) for part in rendered["inputTemplate"]["Fn::Join"][1])
    for expected in (
        "<detail-type> at <time>",
        f"data set {DATA_SET} <detail-DataSets>",
        "revisions <detail-RevisionIds>",
        "to s3://",
        f"aws dataexchange list-jobs --data-set-id {DATA_SET} --revision-id <detail-RevisionIds-0->",
        "aws dataexchange get-job --job-id",
    ):
        assert expected in template


def test_monitoring_adds_nothing_to_a_stack_that_does_not_use_it(three: ThreeExports) -> None:
    resources = three.template.to_json()["Resources"].values()
    monitoring = [r for r in resources if r["Type"].startswith(("AWS::Events::", "AWS::CloudWatch::", "AWS::SNS::"))]
    # The provider's drift check alone, whatever the number of constructs
    assert [r["Properties"].get("ScheduleExpression") for r in monitoring] == ["rate(1 day)"]


# --- the synthesized patterns against the documented events (EventBridge's matching, via moto) -----------


def backfill_event(detail_type: str, data_set: str) -> dict[str, Any]:
    """The backfill worker's end event, as it puts it on the default bus."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": "cdk-dataexchange-auto-export",
        "account": "123456789012",
        "time": "2026-11-27T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:dataexchange:us-east-1:123456789012:event-actions/{'a' * 32}"],
        "detail": {"DataSetId": data_set, "DataSetIds": [data_set], "RevisionIds": [], "Exported": 1, "Failed": 0},
    }


@pytest.mark.parametrize(
    ("event", "failed", "completed"),
    [
        (documented_event("Auto-export Job Completed", [DATA_SET]), False, True),
        (documented_event("Auto-export Job Failed", [DATA_SET]), True, False),
        (documented_event("Auto-Export job failed", [DATA_SET]), True, False),
        (documented_event("Auto-export Job Failed", [GUIDE_DATA_SET]), False, False),
        (documented_event("Auto-export Job Completed", [GUIDE_DATA_SET]), False, False),
        (documented_event("Auto-Export job failed", [GUIDE_DATA_SET, DATA_SET]), True, False),
        ({**documented_event("Auto-export Job Failed", [DATA_SET]), "source": "aws.s3"}, False, False),
        (backfill_event("Backfill Failed", DATA_SET), True, False),
        (backfill_event("Backfill Completed", DATA_SET), False, True),
        (backfill_event("Backfill Failed", GUIDE_DATA_SET), False, False),
    ],
    ids=[
        "completed",
        "failed-as-the-table-spells-it",
        "failed-as-the-example-spells-it",
        "failed-for-another-data-set-of-the-product",
        "completed-for-another-data-set-of-the-product",
        "failed-for-several-data-sets-ours-among-them",
        "another-source",
        "backfill-failed",
        "backfill-completed",
        "backfill-failed-for-another-data-set",
    ],
)
def test_the_rules_match_exactly_the_documented_events_of_their_data_set(
    monitored: Monitored, event: dict[str, Any], failed: bool, completed: bool
) -> None:
    patterns = {
        name: rule(monitored, construct)["Properties"]["EventPattern"]
        for name, construct in (("failed", monitored.failed), ("completed", monitored.on_completed_plain))
    }
    assert Rule("failed", patterns["failed"], []).matches(event) is failed
    assert Rule("completed", patterns["completed"], []).matches(event) is completed
