"""AutoExportProduct through CloudFormation's protocol and after it, offline: the handler reconciles a product's
entitled data sets on Create, Update and Delete, and again when Data Exchange reports data sets published to
the product or the schedule comes due; every call it makes is checked against its role."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from support import Runner, synthesized

from cdk_dataexchange_auto_export import AutoExportProduct, ExistingRevisions
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.cloudformation import LifecycleError
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault, local_client
from dataexchange_auto_export_handler.contract import LOGICAL_ID_TAG, PRODUCT_ID_TAG

PRODUCT = "prod-uexample0abc1d"
OTHER_PRODUCT = "prod-zexample9xyz2e"


def product_stack(new_cdk_app: Callable[..., cdk.App], name: str, **props: Any) -> SynthesizedStack:
    stack = cdk.Stack(new_cdk_app(), name)
    export = AutoExportProduct(stack, "Product", product_id=PRODUCT, bucket=s3.Bucket(stack, "Destination"), **props)
    cdk.CfnOutput(stack, "DataSetIds", value=export.data_set_ids)
    cdk.CfnOutput(stack, "EventActionCount", value=export.event_action_count)
    return synthesized(stack)


@pytest.fixture(scope="module")
def following(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    return product_stack(new_cdk_app, "Following")


@pytest.fixture(scope="module")
def adopting(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    return product_stack(new_cdk_app, "Following", adopt_existing=True)


def subscribe(endpoint: DataExchangeEndpoint, count: int = 3) -> list[str]:
    """The account subscribes to the product: `count` file data sets, one of API assets, and another
    product's data set besides."""
    exportable = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(count)]
    endpoint.add_data_set(PRODUCT, "Live quotes API", asset_type="API_GATEWAY_API")
    endpoint.add_data_set(OTHER_PRODUCT, "Other product's data")
    return exportable


def owned(endpoint: DataExchangeEndpoint, product: str = PRODUCT) -> dict[str, list[str]]:
    """Data set -> the event actions on it that a product resource of the stack owns."""
    found: dict[str, list[str]] = {}
    for item in endpoint.event_actions():
        if item["Tags"].get(PRODUCT_ID_TAG) == product and item["Tags"].get(LOGICAL_ID_TAG):
            found.setdefault(item["Event"]["RevisionPublished"]["DataSetId"], []).append(item["Id"])
    return found


def product_events(aws: OfflineAws) -> list[dict[str, Any]]:
    return [event for event in aws.bus.events if event["source"] == "cdk-dataexchange-auto-export"]


def test_create_exports_every_exportable_data_set_of_the_product_and_nothing_else(
    following: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given 3 file data sets, one of API assets, and another product's data set
    exportable = subscribe(endpoint)

    outputs = cloudformation(following).deploy()

    assert {data_set: len(ids) for data_set, ids in owned(endpoint).items()} == dict.fromkeys(exportable, 1)
    assert len(endpoint.event_actions()) == 3, "nothing on the API data set or the other product's"
    assert sorted(outputs["DataSetIds"].split(",")) == sorted(exportable)
    assert outputs["EventActionCount"] == "3"
    destinations = {
        item["Action"]["ExportRevisionToS3"]["RevisionDestination"]["KeyPattern"] for item in endpoint.event_actions()
    }
    assert destinations == {"${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}"}


def test_a_data_set_added_to_the_product_is_followed_once_when_the_event_and_the_schedule_fire_together(
    following: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    subscribe(endpoint)
    cloudformation(following).deploy()
    # Given the provider adds a data set to the product
    added = endpoint.add_data_set(PRODUCT, "Prices 3")["Id"]

    # When Data Exchange's event and the schedule both run the reconcile at once
    both = [
        threading.Thread(target=endpoint.publish_data_sets, args=(PRODUCT, [added])),
        threading.Thread(target=aws.bus.run_schedules),
    ]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    aws.lambda_.wait()

    # Then the new data set has exactly one event action, and both reconciles reported
    assert owned(endpoint)[added] == [owned(endpoint)[added][0]]
    assert len(owned(endpoint)) == 4

    reported = [event for event in product_events(aws) if event["detail-type"].startswith("Product")]
    assert len(reported) == 2
    assert {"Product Data Sets Added"} <= {event["detail-type"] for event in reported}
    assert all(event["resources"] == [PRODUCT] for event in reported)


def test_a_data_set_no_longer_entitled_loses_its_event_action_at_the_next_reconcile(
    following: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    exportable = subscribe(endpoint)
    cloudformation(following).deploy()
    # Given the subscription to one data set ends
    endpoint.end_entitlement(exportable[0])

    aws.bus.run_schedules()
    aws.lambda_.wait()

    assert sorted(owned(endpoint)) == sorted(exportable[1:])
    [event] = [event for event in product_events(aws) if event["detail-type"].startswith("Product")]
    assert (event["detail-type"], event["detail"]["Removed"]) == ("Product Reconciled", [exportable[0]])
    # ...and it is reported as the drift it is, which the reconcile resolved as far as it can
    [drift] = [event for event in product_events(aws) if event["detail-type"] == "Export Drift Detected"]
    assert (drift["detail"]["Drift"], drift["detail"]["DataSetId"]) == ("DataSetNotEntitled", exportable[0])
    assert drift["detail"]["Restored"] is True and drift["detail"]["EventActionId"] is None


def test_an_identical_event_action_made_elsewhere_is_refused_unless_adopted(
    following: SynthesizedStack, adopting: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    [data_set] = subscribe(endpoint, count=1)
    runner = cloudformation(following)
    destination = runner.physical_name(next(iter(following.of_type("AWS::S3::Bucket"))))
    elsewhere = local_client(endpoint.url).create_event_action(
        Action={
            "ExportRevisionToS3": {
                "RevisionDestination": {
                    "Bucket": destination,
                    "KeyPattern": "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}",
                }
            }
        },
        Event={"RevisionPublished": {"DataSetId": data_set}},
    )["Id"]

    with pytest.raises(LifecycleError, match=f"CREATE_FAILED.*Event action {elsewhere} already exports"):
        runner.deploy()
    cloudformation(adopting).deploy()

    assert owned(endpoint) == {data_set: [elsewhere]}


def test_a_product_beyond_the_account_quota_fails_with_the_numbers_and_leaves_nothing_unowned(
    following: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given an account with 48 of its 50 event actions in use, and a product of 3 data sets
    client = local_client(endpoint.url)
    for n in range(48):
        client.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "elsewhere-bucket"}}},
            Event={"RevisionPublished": {"DataSetId": f"{n:032d}"}},
        )
    subscribe(endpoint)

    with pytest.raises(LifecycleError) as failure:
        cloudformation(following).deploy()

    reason = str(failure.value)
    assert f"Product {PRODUCT} needs 3 event actions" in reason
    assert "quota 'Event actions per account' (50) reached" in reason
    assert "Service Quotas" in reason
    # The rollback deleted what the Create made; everything left is the account's own
    assert owned(endpoint) == {}
    assert len(endpoint.event_actions()) == 48


def test_delete_removes_every_owned_event_action_and_nothing_else(
    following: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    subscribe(endpoint)
    unrelated = local_client(endpoint.url).create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "elsewhere-bucket"}}},
        Event={"RevisionPublished": {"DataSetId": "0" * 32}},
    )["Id"]
    runner = cloudformation(following)
    runner.deploy()

    runner.destroy()

    assert [item["Id"] for item in endpoint.event_actions()] == [unrelated]


def test_a_create_delivered_twice_leaves_one_event_action_per_data_set(
    following: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    exportable = subscribe(endpoint)
    runner = cloudformation(following)
    (product_id,) = following.of_type("Custom::DataExchangeProductAutoExport")
    request = runner.request("Create", product_id)

    first, second = runner.invoke(request), runner.invoke(request)

    assert first.succeeded and second.succeeded
    assert {data_set: len(ids) for data_set, ids in owned(endpoint).items()} == dict.fromkeys(exportable, 1)


def test_twenty_five_data_sets_are_followed(
    following: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    exportable = subscribe(endpoint, count=25)

    outputs = cloudformation(following).deploy()

    assert outputs["EventActionCount"] == "25"
    assert sorted(owned(endpoint)) == sorted(exportable)


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True, ids=["pages-of-2"])
@pytest.mark.every_runtime
def test_every_page_of_data_sets_and_event_actions_is_read(
    following: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given lists answered two items a page, whatever MaxResults asks: 13 pages of data sets
    exportable = subscribe(endpoint, count=25)
    runner = cloudformation(following)
    runner.deploy()

    # When the product is reconciled again (every event action its own, on pages of two)
    (product,) = following.of_type("Custom::DataExchangeProductAutoExport")
    again = runner.invoke(runner.request("Create", product))

    assert again.succeeded
    assert {data_set: len(ids) for data_set, ids in owned(endpoint).items()} == dict.fromkeys(exportable, 1)
    assert sorted(again.response["Data"]["DataSetIds"].split(",")) == sorted(exportable)


@pytest.mark.parametrize("drop_connection", [False, True], ids=["answered-500", "connection-dropped"])
def test_a_create_whose_answer_was_lost_leaves_one_event_action_per_data_set(
    following: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner, drop_connection: bool
) -> None:
    # Given the service makes the first event action but its answer is lost: boto3 sends the Create again
    exportable = subscribe(endpoint)
    endpoint.inject("CreateEventAction", Fault("lost_answer", drop_connection=drop_connection))

    cloudformation(following).deploy()

    # Then the reconcile's second look removed the extra one
    assert {data_set: len(ids) for data_set, ids in owned(endpoint).items()} == dict.fromkeys(exportable, 1)
    assert len(endpoint.event_actions()) == 3


@pytest.mark.every_runtime
def test_tags_applied_with_tags_of_survive_every_reconcile_after_the_deploy(
    new_cdk_app: Callable[..., cdk.App], aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given a product's construct tagged by its prop and by Tags.of, with 46 long tags (the most it accepts)
    stack = cdk.Stack(new_cdk_app(), "Tagged")
    long = {f"team-{n:02d}-{'k' * 100}": "v" * 256 for n in range(45)}
    AutoExportProduct(stack, "Product", product_id=PRODUCT, bucket=s3.Bucket(stack, "Destination"), tags=long)
    cdk.Tags.of(stack).add("CostCenter", "4242")
    tagged = synthesized(stack)
    subscribe(endpoint, count=2)
    cloudformation(tagged).deploy()
    added = endpoint.add_data_set(PRODUCT, "Prices 2")["Id"]

    # When Data Exchange's event and the schedule run the reconcile after the deploy
    endpoint.publish_data_sets(PRODUCT, [added])
    aws.lambda_.wait()
    aws.bus.run_schedules()
    aws.lambda_.wait()

    # Then every event action, the new one too, carries both kinds of tag
    assert len(endpoint.event_actions()) == 3
    for item in endpoint.event_actions():
        assert item["Tags"]["CostCenter"] == "4242"
        assert long.items() <= item["Tags"].items()
    # ...and the rules' input names only the resource, far below EventBridge's 8,192 characters for a target input
    inputs = [target["Input"] for rule in tagged.of_type("AWS::Events::Rule") for target in rule_targets(tagged, rule)]
    assert inputs and all(len(json.dumps(value)) < 300 for value in inputs)


def rule_targets(stack: SynthesizedStack, logical_id: str) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = stack.resources[logical_id]["Properties"]["Targets"]
    return targets


def test_a_reconcile_queued_before_the_delete_leaves_nothing_behind(
    following: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    subscribe(endpoint)
    runner = cloudformation(following)
    runner.deploy()
    stack_id = runner.state().stack_id
    (product_id,) = [key for key, resource in runner.state().resources.items()]
    # Given a reconcile the schedule queued, which Lambda runs only once the stack is deleted
    queued = {"ProductReconcile": {"StackId": stack_id, "LogicalResourceId": product_id}}
    runner.destroy()
    assert endpoint.event_actions() == []

    handler = next(key for key in following.of_type("AWS::Lambda::Function") if "Handler" in key)
    aws.lambda_.invoke_async(runner.function_arn(handler), queued)
    aws.lambda_.wait()

    # Then it makes nothing again and reports nothing
    assert endpoint.event_actions() == []
    assert product_events(aws) == []


@pytest.fixture(scope="module")
def backfilled(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    return product_stack(new_cdk_app, "Backfilled", export_existing_revisions=ExistingRevisions.latest(2))


def handed_to_the_backfill(aws: OfflineAws, since: int = 0) -> dict[str, dict[str, Any]]:
    """Data set -> the cursor each backfill started with (the worker's first invocation of it)."""
    return {
        invocation.payload["data_set_id"]: invocation.payload
        for invocation in aws.lambda_.invocations[since:]
        if invocation.payload.get("invocation") == 1 and invocation.attempt == 1
    }


def test_each_reconcile_hands_the_backfill_the_event_actions_it_made_and_no_others(
    backfilled: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    exportable = subscribe(endpoint, count=2)
    cloudformation(backfilled).deploy()
    aws.lambda_.wait()
    arns = {item["Event"]["RevisionPublished"]["DataSetId"]: item["Arn"] for item in endpoint.event_actions()}

    # The Create: every data set's event action, with the product's scope
    started = handed_to_the_backfill(aws)
    assert sorted(started) == sorted(exportable)
    for data_set, cursor in started.items():
        assert (cursor["event_action_arn"], cursor["latest"], cursor["product_id"]) == (arns[data_set], 2, PRODUCT)

    # Data Exchange announces a new data set: its event action only
    since = len(aws.lambda_.invocations)
    added = endpoint.add_data_set(PRODUCT, "Prices 2")["Id"]
    endpoint.publish_data_sets(PRODUCT, [added])
    aws.lambda_.wait()
    assert list(handed_to_the_backfill(aws, since)) == [added]

    # A day with nothing new: nothing; one whose event action someone deleted: the one made again
    since = len(aws.lambda_.invocations)
    aws.bus.run_schedules()
    aws.lambda_.wait()
    assert handed_to_the_backfill(aws, since) == {}
    local_client(endpoint.url).delete_event_action(
        EventActionId=next(
            i["Id"] for i in endpoint.event_actions() if i["Event"]["RevisionPublished"]["DataSetId"] == exportable[0]
        )
    )
    since = len(aws.lambda_.invocations)
    aws.bus.run_schedules()
    aws.lambda_.wait()
    [(data_set, cursor)] = handed_to_the_backfill(aws, since).items()
    assert (data_set, cursor["event_action_arn"]) == (exportable[0], owned_arn(endpoint, exportable[0]))


def owned_arn(endpoint: DataExchangeEndpoint, data_set: str) -> str:
    [arn] = [
        item["Arn"] for item in endpoint.event_actions() if item["Event"]["RevisionPublished"]["DataSetId"] == data_set
    ]
    return arn
