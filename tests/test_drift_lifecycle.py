"""Drift through the offline runner, in the Lambda-like runtimes: the provider's schedule runs the check in the
handler, whose reports reach the construct's rules and alert topic; the command a report names really repairs the
event action (CloudFormation sends the Update only because the command changes a property); a product's reconcile
restores and reports. Every call a function makes is checked against its role."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from support import DATA_SET, OTHER_DATA_SET, Runner, synthesized

from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportProduct
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, local_client
from dataexchange_auto_export_handler.contract import PRODUCT_ID_TAG

PRODUCT = "prod-uexample0abc1d"
DRIFT = "Export Drift Detected"


def exports_stack(new_cdk_app: Callable[..., cdk.App], **context: str) -> SynthesizedStack:
    """Stack "Watched": two event actions with an alert topic; the app's context as `cdk deploy -c` gives it."""
    app = new_cdk_app(context={"aws:cdk:disable-stack-trace": True, "aws:cdk:enable-path-metadata": True, **context})
    stack = cdk.Stack(app, "Watched")
    bucket, topic = s3.Bucket(stack, "Destination"), sns.Topic(stack, "Alerts")
    AutoExportEventAction(stack, "Prices", data_set_id=DATA_SET, bucket=bucket, alert_topic=topic)
    AutoExportEventAction(stack, "Reference", data_set_id=OTHER_DATA_SET, bucket=bucket, alert_topic=topic)
    return synthesized(stack)


@pytest.fixture(scope="module")
def watched(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    return exports_stack(new_cdk_app)


def drift_reports(aws: OfflineAws, since: int = 0) -> list[dict[str, Any]]:
    return [event["detail"] for event in aws.bus.events[since:] if event["detail-type"] == DRIFT]


def a_day_passes(aws: OfflineAws) -> None:
    """Every schedule of the stack comes due (the drift check's, a product's reconcile), and runs to its end."""
    aws.bus.run_schedules()
    aws.lambda_.wait()


def behind_the_stacks_back(endpoint: DataExchangeEndpoint, runner: Any) -> tuple[str, str]:
    """Someone deletes the Prices event action and points the Reference one at another bucket; returns their ids."""
    prices, reference = (
        runner.state().resources[key].physical_id
        for prefix in ("Prices", "Reference")
        for key in runner.state().resources
        if key.startswith(prefix)
    )
    console = local_client(endpoint.url)
    console.delete_event_action(EventActionId=prices)
    console.update_event_action(
        EventActionId=reference,
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "someone-elses-bucket"}}},
    )
    return prices, reference


@pytest.mark.every_runtime
def test_the_daily_check_reports_a_deleted_and_a_changed_event_action_to_the_alert_topic(
    watched: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    for data_set in (DATA_SET, OTHER_DATA_SET):
        endpoint.entitle(data_set)
    runner = cloudformation(watched)
    runner.deploy()
    prices, reference = behind_the_stacks_back(endpoint, runner)

    a_day_passes(aws)

    deleted, changed = sorted(drift_reports(aws), key=lambda report: str(report["ConstructPath"]))
    assert (deleted["Drift"], deleted["ConstructPath"], deleted["EventActionId"]) == (
        "EventActionDeleted",
        "Watched/Prices/Resource/Default",
        prices,
    )
    assert (changed["Drift"], changed["ConstructPath"], changed["EventActionId"]) == (
        "EventActionChanged",
        "Watched/Reference/Resource/Default",
        reference,
    )
    assert "someone-elses-bucket" in changed["Found"]
    # Each reached the alert topic through the construct's own drift rule, as a message that says it all
    messages = {json.loads(delivery.input) for delivery in aws.bus.deliveries if ":sns:" in delivery.target.arn}
    assert len(messages) == 2
    for report in (deleted, changed):
        [message] = [text for text in messages if report["ConstructPath"] in text]
        assert message.startswith("Data Exchange Export Drift Detected at ")
        assert report["Reason"] in message and report["RepairCommand"] in message
        # and nothing of a failed export's: a report names no revision and no job
        assert message.endswith(report["Reason"]) and "list-jobs" not in message


def repair_context(report: dict[str, Any]) -> dict[str, str]:
    """The `-c KEY=VALUE` of the command a report names."""
    words = shlex.split(report["RepairCommand"].split(" && ")[-1])
    key, _, value = words[words.index("-c") + 1].partition("=")
    return {key: value}


def test_the_command_a_report_names_repairs_the_event_action_where_a_plain_deploy_does_not(
    new_cdk_app: Callable[..., cdk.App],
    watched: SynthesizedStack,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
) -> None:
    for data_set in (DATA_SET, OTHER_DATA_SET):
        endpoint.entitle(data_set)
    runner = cloudformation(watched)
    runner.deploy()
    behind_the_stacks_back(endpoint, runner)
    a_day_passes(aws)
    deleted, changed = drift_reports(aws)

    # An ordinary deploy changes no property: CloudFormation sends nothing, and the drift stays
    plain = cloudformation(watched)
    plain.deploy()
    assert plain.invocations == []
    for report in (deleted, changed):
        # When the user runs the command the report names (its context, as cdk deploy -c passes it)
        repairing = cloudformation(exports_stack(new_cdk_app, **repair_context(report)))
        repairing.deploy()
        # Then CloudFormation sent that resource an Update (and the one repaired before another, which changes
        # nothing: its Repair property is gone again)
        updated = {
            i.request["LogicalResourceId"] for i in repairing.invocations if i.request["RequestType"] == "Update"
        }
        assert report["LogicalResourceId"] in updated
        assert updated <= {deleted["LogicalResourceId"], changed["LogicalResourceId"]}

    since = len(aws.bus.events)
    a_day_passes(aws)
    assert drift_reports(aws, since) == []
    # And the event actions export where the stack says, once each
    bucket = runner.physical_name(watched.of_type("AWS::S3::Bucket")[0])
    default = {"Bucket": bucket, "KeyPattern": "${Revision.CreatedAt}/${Asset.Name}"}
    exported = {
        item["Event"]["RevisionPublished"]["DataSetId"]: item["Action"]["ExportRevisionToS3"]
        for item in endpoint.event_actions()
    }
    assert len(endpoint.event_actions()) == 2
    as_deployed = {"Encryption": {"Type": "AES256"}, "RevisionDestination": default}
    assert exported == {DATA_SET: as_deployed, OTHER_DATA_SET: as_deployed}


def test_a_drift_that_comes_back_after_its_repair_is_repaired_by_its_new_report(
    new_cdk_app: Callable[..., cdk.App],
    watched: SynthesizedStack,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
) -> None:
    # Given a change behind the stack's back, repaired with its report's command, that happens again
    endpoint.entitle(DATA_SET)
    endpoint.entitle(OTHER_DATA_SET)
    runner = cloudformation(watched)
    runner.deploy()
    for _ in range(2):
        reference = next(r.physical_id for key, r in runner.state().resources.items() if key.startswith("Reference"))
        local_client(endpoint.url).update_event_action(
            EventActionId=reference,
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "someone-elses-bucket"}}},
        )
        since = len(aws.bus.events)
        aws.bus.run_schedules()
        aws.lambda_.wait()
        [report] = drift_reports(aws, since)
        cloudformation(exports_stack(new_cdk_app, **repair_context(report))).deploy()

    # Then the second report's command repaired it too: its nonce is a change of property of its own
    since = len(aws.bus.events)
    a_day_passes(aws)
    assert drift_reports(aws, since) == []


@pytest.fixture(scope="module")
def followed(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    stack = cdk.Stack(new_cdk_app(), "Followed")
    AutoExportProduct(stack, "Product", product_id=PRODUCT, bucket=s3.Bucket(stack, "Destination"))
    return synthesized(stack)


def owned(endpoint: DataExchangeEndpoint) -> dict[str, dict[str, Any]]:
    return {
        item["Event"]["RevisionPublished"]["DataSetId"]: item
        for item in endpoint.event_actions()
        if item["Tags"].get(PRODUCT_ID_TAG) == PRODUCT
    }


def test_a_products_reconcile_restores_what_was_deleted_or_changed_behind_its_back_and_reports_it(
    followed: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    first, second, third = (endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(3))
    runner = cloudformation(followed)
    runner.deploy()
    bucket = runner.physical_name(followed.of_type("AWS::S3::Bucket")[0])
    console = local_client(endpoint.url)
    console.delete_event_action(EventActionId=owned(endpoint)[first]["Id"])
    changed_id = owned(endpoint)[second]["Id"]
    console.update_event_action(
        EventActionId=changed_id,
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": bucket, "KeyPattern": "${Asset.Name}"}}},
    )

    a_day_passes(aws)

    # Then every data set is exported as deployed again
    patterns = {
        data_set: item["Action"]["ExportRevisionToS3"]["RevisionDestination"]["KeyPattern"]
        for data_set, item in owned(endpoint).items()
    }
    assert patterns == dict.fromkeys((first, second, third), "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}")
    # ...and what was restored is reported as drift, restored, naming the event action exporting it now
    reports = {report["DataSetId"]: report for report in drift_reports(aws)}
    assert {data_set: report["Drift"] for data_set, report in reports.items()} == {
        first: "EventActionDeleted",
        second: "EventActionChanged",
    }
    assert all(report["Restored"] and report["ProductId"] == PRODUCT for report in reports.values())
    assert reports[first]["EventActionId"] == owned(endpoint)[first]["Id"]
    assert reports[second]["EventActionId"] == changed_id
    assert reports[second]["Found"] == f"data set {second} exported to s3://{bucket}/${{Asset.Name}} (SSE-S3)"


def test_a_data_set_data_exchange_announces_is_added_not_reported_as_drift(
    followed: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    endpoint.add_data_set(PRODUCT, "Prices 0")
    cloudformation(followed).deploy()
    added = endpoint.add_data_set(PRODUCT, "Prices 1")["Id"]

    endpoint.publish_data_sets(PRODUCT, [added])
    aws.lambda_.wait()

    assert added in owned(endpoint)
    assert drift_reports(aws) == []
    [event] = [event for event in aws.bus.events if event["detail-type"] == "Product Data Sets Added"]
    assert event["detail"]["Added"] == [added]
