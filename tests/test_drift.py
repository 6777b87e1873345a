"""The drift check, as a user relies on it: what it reports of a stack's event actions changed or deleted behind the
stack's back, or of a data set no longer entitled; what each report carries; what it leaves to others (another
provider's resources, a product's reconcile); and that it only reads. The check runs in this process against the
stand-ins, over the stack the offline runner deployed once for the module (one Lambda-like runtime suffices: the
check's code under test runs here; test_drift_lifecycle.py runs it in the function, on both runtimes)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from support import DATA_SET, OTHER_DATA_SET, THIRD_DATA_SET, synthesized

from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportEventActionProvider, AutoExportProduct
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import DATAEXCHANGE_STATE_FILE, OfflineAws
from cdk_dataexchange_auto_export.local.cloudformation import OfflineCloudFormation
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, local_client
from cdk_dataexchange_auto_export.local.endpoints.server import client
from dataexchange_auto_export_handler import drift, product_resource
from dataexchange_auto_export_handler.clients import Clients
from dataexchange_auto_export_handler.contract import (
    LOGICAL_ID_TAG,
    PRODUCT_ID_TAG,
    DriftCheckRequest,
    ReconcileRequest,
)
from dataexchange_auto_export_handler.request import Request
from tools.toolchain import LAMBDA_PYTHON

PRODUCT = "prod-uexample0abc1d"
KEY_PATTERN = "${DataSet.Name}/${Revision.Id}/${Asset.Id}"
STACK_FILE = "stack.json"
READS = {"GetEventAction", "ListDataSets", "ListStackResources", "DescribeStackResource"}


@pytest.fixture(scope="module")
def drifting(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """Stack "Drifting": on the shared provider, an event action with a key and a pattern of its own, a plain one and
    a product; on a provider of the user's own, a third event action."""
    # Path metadata on, as the CDK CLI has it: the reports name the construct by it
    stack = cdk.Stack(new_cdk_app(context={"aws:cdk:enable-path-metadata": True}), "Drifting")
    bucket = s3.Bucket(stack, "Destination")
    AutoExportEventAction(
        stack,
        "Keyed",
        data_set_id=DATA_SET,
        bucket=bucket,
        key_pattern=KEY_PATTERN,
        encryption_key=kms.Key(stack, "ExportKey"),
    )
    AutoExportEventAction(stack, "Plain", data_set_id=OTHER_DATA_SET, bucket=bucket)
    AutoExportProduct(stack, "Product", product_id=PRODUCT, bucket=bucket)
    own = AutoExportEventActionProvider(stack, "OwnProvider")
    AutoExportEventAction(stack, "OnOwnProvider", data_set_id=THIRD_DATA_SET, bucket=bucket, provider=own)
    return synthesized(stack)


@dataclass
class Deployed:
    runner: OfflineCloudFormation
    aws: OfflineAws
    endpoint: DataExchangeEndpoint
    clients: Clients
    stack_id: str

    def logical_id(self, prefix: str) -> str:
        return next(key for key in self.runner.state().resources if key.startswith(prefix))

    def event_action(self, prefix: str) -> str:
        return self.runner.state().resources[self.logical_id(prefix)].physical_id

    def service_token(self, provider: str = "AutoExportEventActionProvider") -> str:
        handler = next(key for key in self.runner.stack.of_type("AWS::Lambda::Function") if key.startswith(provider))
        return self.runner.function_arn(handler)

    @property
    def bucket(self) -> str:
        return self.runner.physical_name(self.runner.stack.of_type("AWS::S3::Bucket")[0])

    def check(self, provider: str = "AutoExportEventActionProvider") -> list[drift.Drift]:
        return drift.check(self.clients, self.stack_id, self.service_token(provider))


@pytest.fixture(scope="module")
def snapshot(drifting: SynthesizedStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stack deployed once, entitled to its data sets and the product: Data Exchange's state and the stack's,
    which each test starts from (a deploy runs one Lambda-like process per resource: seconds each)."""
    folder = tmp_path_factory.mktemp("drifting")
    endpoint = DataExchangeEndpoint(state_file=folder / DATAEXCHANGE_STATE_FILE)
    for data_set in (DATA_SET, OTHER_DATA_SET, THIRD_DATA_SET):
        endpoint.entitle(data_set)
    for n in range(2):
        endpoint.add_data_set(PRODUCT, f"Prices {n}")
    with (
        OfflineAws(dataexchange=endpoint) as aws,
        aws.cloudformation(drifting, folder / STACK_FILE, aws.runtime(LAMBDA_PYTHON)) as runner,
    ):
        runner.deploy()
        aws.lambda_.wait()
    return folder


@pytest.fixture
def deployed(
    drifting: SynthesizedStack, snapshot: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Deployed]:
    """The deployed stack, in services of the test's own; parametrize indirectly with DataExchangeEndpoint's keyword
    arguments."""
    for name in (DATAEXCHANGE_STATE_FILE, STACK_FILE):
        shutil.copy(snapshot / name, tmp_path / name)
    endpoint = DataExchangeEndpoint(state_file=tmp_path / DATAEXCHANGE_STATE_FILE, **getattr(request, "param", {}))
    with OfflineAws(dataexchange=endpoint) as aws:
        runner = aws.cloudformation(drifting, tmp_path / STACK_FILE, aws.runtime(LAMBDA_PYTHON))
        clients = Clients(
            dataexchange=local_client(endpoint.url),
            events=client("events", aws.eventbridge.url),
            cloudformation=client("cloudformation", aws.cloudformation_api.url),
        )
        yield Deployed(runner, aws, endpoint, clients, runner.state().stack_id)


def action(bucket: str, key_pattern: str | None = None, key_arn: str | None = None) -> dict[str, Any]:
    destination = {"Bucket": bucket, **({"KeyPattern": key_pattern} if key_pattern else {})}
    encryption = {"Encryption": {"Type": "aws:kms", "KmsKeyArn": key_arn}} if key_arn else {}
    return {"ExportRevisionToS3": {"RevisionDestination": destination, **encryption}}


def test_a_stack_as_deployed_has_no_drift(deployed: Deployed) -> None:
    assert deployed.check() == []


def test_an_event_action_deleted_behind_the_stacks_back_is_reported_with_what_was_expected_and_the_repair(
    deployed: Deployed,
) -> None:
    endpoint = deployed.endpoint
    # Given someone deletes the keyed construct's event action in the console
    gone = deployed.event_action("Keyed")
    local_client(endpoint.url).delete_event_action(EventActionId=gone)

    [report] = deployed.check()

    logical_id = deployed.logical_id("Keyed")
    assert (report.kind, report.logical_id, report.path, report.data_set_id) == (
        "EventActionDeleted",
        logical_id,
        "Drifting/Keyed/Resource/Default",
        DATA_SET,
    )
    assert report.event_action_id == gone
    # What was deployed, all of it: data set, bucket, key pattern and key
    key_arn = deployed.runner.state().resources[logical_id].properties["KmsKeyArn"]
    assert (
        report.expected == f"data set {DATA_SET} exported to s3://{deployed.bucket}/{KEY_PATTERN} (SSE-KMS {key_arn})"
    )
    assert report.found == "none"
    assert report.repair.startswith(f"cdk deploy Drifting -c @cdk-dataexchange-auto-export/repair={logical_id}@")
    assert not report.restored


@pytest.mark.parametrize(
    ("changed", "found"),
    [
        ({"bucket": "elsewhere-bucket"}, "s3://elsewhere-bucket/${Revision.CreatedAt}/${Asset.Name} (SSE-S3)"),
        ({"key_pattern": "${Asset.Name}"}, "s3://{bucket}/${Asset.Name} (SSE-S3)"),
        (
            {"key_arn": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
            "s3://{bucket}/${Revision.CreatedAt}/${Asset.Name} (SSE-KMS "
            "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab)",
        ),
    ],
    ids=["bucket", "key-pattern", "encryption"],
)
def test_a_destination_changed_behind_the_stacks_back_is_reported_with_both_destinations(
    deployed: Deployed, changed: dict[str, str], found: str
) -> None:
    endpoint = deployed.endpoint
    # Given someone changes one part of the plain construct's destination (its defaults: no pattern, SSE-S3)
    plain = deployed.event_action("Plain")
    destination = {"bucket": deployed.bucket, **changed}
    local_client(endpoint.url).update_event_action(EventActionId=plain, Action=action(**destination))

    [report] = deployed.check()

    assert (report.kind, report.logical_id, report.event_action_id) == (
        "EventActionChanged",
        deployed.logical_id("Plain"),
        plain,
    )
    default = "${Revision.CreatedAt}/${Asset.Name}"
    assert report.expected == f"data set {OTHER_DATA_SET} exported to s3://{deployed.bucket}/{default} (SSE-S3)"
    exported = found.replace("{bucket}", deployed.bucket)
    assert report.found == f"data set {OTHER_DATA_SET} exported to {exported} by event action {plain}"
    # An Update (the repair deploy's) sends the whole Action again
    assert "delete-event-action" not in report.repair


@pytest.mark.parametrize(
    "deployed", [{"answers": "defaults left out"}, {"answers": "defaults filled in"}], indirect=True
)
def test_defaults_spelled_out_or_left_out_are_no_drift(deployed: Deployed) -> None:
    assert deployed.check() == []


@pytest.mark.parametrize("deployed", [{"page_limit": 1}], indirect=True)
def test_an_account_whose_entitled_data_sets_take_many_pages_has_every_page_read(deployed: Deployed) -> None:
    # Given ListDataSets answers one data set a page: the stack's data sets are on three pages
    # When the check runs, Then no data set on a later page is taken for one no longer entitled
    assert deployed.check() == []


def test_an_event_action_on_another_data_set_is_reported_and_its_repair_deletes_it_before_the_update(
    deployed: Deployed,
) -> None:
    endpoint = deployed.endpoint
    # Given the plain construct's event action now exports another data set (no API call can do this; a check that
    # read the data set from the stack instead of the event action would miss it)
    plain = deployed.event_action("Plain")
    endpoint.change_event_action(plain, data_set_id=THIRD_DATA_SET)

    [report] = deployed.check()

    assert (report.kind, report.data_set_id) == ("EventActionChanged", OTHER_DATA_SET)
    assert report.found.startswith(f"data set {THIRD_DATA_SET} exported to s3://{deployed.bucket}/")
    # The Update compares the properties before and after, not the event action: it must be gone first
    assert report.repair.startswith(f"aws dataexchange delete-event-action --event-action-id {plain} && cdk deploy ")


def test_a_data_set_no_longer_entitled_is_reported_with_what_can_repair_it(
    deployed: Deployed,
) -> None:
    endpoint = deployed.endpoint
    endpoint.end_entitlement(DATA_SET)

    [report] = deployed.check()

    assert (report.kind, report.logical_id, report.data_set_id) == (
        "DataSetNotEntitled",
        deployed.logical_id("Keyed"),
        DATA_SET,
    )
    assert report.event_action_id == deployed.event_action("Keyed")
    assert report.found == "it is not among the account's entitled data sets"
    assert "subscribe again" in report.repair and "cdk deploy Drifting" in report.repair


def test_a_deleted_event_action_of_a_data_set_no_longer_entitled_is_reported_as_both(deployed: Deployed) -> None:
    # Given the subscription to the keyed construct's data set ended and its event action is gone too
    endpoint = deployed.endpoint
    endpoint.end_entitlement(DATA_SET)
    local_client(endpoint.url).delete_event_action(EventActionId=deployed.event_action("Keyed"))

    reports = deployed.check()

    # Then both are reported: the repair deploy alone cannot make an event action on a data set not entitled
    assert sorted((report.kind, report.data_set_id) for report in reports) == [
        ("DataSetNotEntitled", DATA_SET),
        ("EventActionDeleted", DATA_SET),
    ]


def test_each_provider_checks_the_resources_it_serves_and_neither_checks_a_products(
    deployed: Deployed,
) -> None:
    endpoint = deployed.endpoint
    # Given the event actions of the construct on the user's own provider and of the product are deleted
    console = local_client(endpoint.url)
    console.delete_event_action(EventActionId=deployed.event_action("OnOwnProvider"))
    for item in endpoint.event_actions():
        if item["Tags"].get(PRODUCT_ID_TAG) == PRODUCT:
            console.delete_event_action(EventActionId=item["Id"])

    shared, own = deployed.check(), deployed.check("OwnProvider")

    # The shared provider's check reports neither; the own provider's reports its construct's; the product's are its
    # own reconcile's to restore and report
    assert shared == []
    assert [(report.kind, report.path) for report in own] == [
        ("EventActionDeleted", "Drifting/OnOwnProvider/Resource/Default")
    ]


def test_the_check_only_reads_and_only_its_own_stack(
    deployed: Deployed,
) -> None:
    aws, endpoint = deployed.aws, deployed.endpoint
    local_client(endpoint.url).delete_event_action(EventActionId=deployed.event_action("Keyed"))
    before = {service: len(service.calls) for service in (endpoint, aws.cloudformation_api)}

    deployed.check()

    calls = [call for service, first in before.items() for call in service.calls[first:]]
    assert {call.operation for call in calls} == READS
    stacks = {
        authorization.resource
        for call in aws.cloudformation_api.calls[before[aws.cloudformation_api] :]
        for authorization in call.authorizations
    }
    assert stacks == {deployed.stack_id}


def test_each_report_goes_to_the_default_bus_naming_the_resource_and_the_stack(
    deployed: Deployed,
) -> None:
    aws, endpoint = deployed.aws, deployed.endpoint
    gone = deployed.event_action("Keyed")
    local_client(endpoint.url).delete_event_action(EventActionId=gone)
    endpoint.end_entitlement(OTHER_DATA_SET)
    request = {DriftCheckRequest.STACK_ID: deployed.stack_id, DriftCheckRequest.SERVICE_TOKEN: deployed.service_token()}

    drift.check_after_deploy(deployed.clients, request)

    reports = [event for event in aws.bus.events if event["detail-type"] == "Export Drift Detected"]
    assert [(event["source"], event["resources"]) for event in reports] == [
        ("cdk-dataexchange-auto-export", [deployed.stack_id])
    ] * 2
    deleted, not_entitled = (event["detail"] for event in reports)
    assert deleted == {
        "Drift": "EventActionDeleted",
        "StackId": deployed.stack_id,
        "LogicalResourceId": deployed.logical_id("Keyed"),
        "ConstructPath": "Drifting/Keyed/Resource/Default",
        "DataSetId": DATA_SET,
        "DataSetIds": [DATA_SET],
        "EventActionId": gone,
        "Expected": deleted["Expected"],
        "Found": "none",
        "RepairCommand": deleted["RepairCommand"],
        "Restored": False,
        "Reason": (
            f"Drifting/Keyed/Resource/Default ({deployed.logical_id('Keyed')}) of stack Drifting: its event action no "
            "longer exists. "
            f"Expected {deleted['Expected']}; found none. Repair: {deleted['RepairCommand']}"
        ),
    }
    assert (not_entitled["Drift"], not_entitled["DataSetIds"]) == ("DataSetNotEntitled", [OTHER_DATA_SET])


def test_a_resource_the_stack_is_still_creating_or_deleting_is_not_checked(
    deployed: Deployed,
) -> None:
    endpoint = deployed.endpoint
    # Given a deploy under way: the keyed construct's resource is being updated and its event action is gone
    state = deployed.runner.state()
    state.resources[deployed.logical_id("Keyed")].status = "UPDATE_IN_PROGRESS"
    state.save(deployed.runner.state_file)
    local_client(endpoint.url).delete_event_action(EventActionId=deployed.event_action("Keyed"))

    assert deployed.check() == []


def test_the_check_follows_the_stacks_physical_id_not_the_ownership_tags(
    deployed: Deployed,
) -> None:
    endpoint = deployed.endpoint
    # Given someone strips the ownership tags (the event action exports as deployed, under the stack's physical id)
    plain = deployed.event_action("Plain")
    arn = next(item["Arn"] for item in endpoint.event_actions() if item["Id"] == plain)
    local_client(endpoint.url).untag_resource(ResourceArn=arn, TagKeys=[LOGICAL_ID_TAG])

    assert deployed.check() == []


# --- what a product's reconcile after the deploy reports -------------------------------------------------------


def reconcile(deployed: Deployed, trigger: str | None) -> dict[str, str]:
    """The product's reconcile after the deploy, as the rule of `trigger` asks for it (None: a rule of a release
    before triggers); data set -> the drift it reported."""
    request = {
        ReconcileRequest.STACK_ID: deployed.stack_id,
        ReconcileRequest.LOGICAL_ID: deployed.logical_id("Product"),
    }
    if trigger is not None:
        request[ReconcileRequest.TRIGGER] = trigger
    since = len(deployed.aws.bus.events)
    product_resource.reconcile_after_deploy(deployed.clients, request)
    reports = [
        event["detail"] for event in deployed.aws.bus.events[since:] if event["detail-type"] == "Export Drift Detected"
    ]
    assert all(
        report["Restored"] and report["ConstructPath"] == "Drifting/Product/Resource/Default" for report in reports
    )
    return {report["DataSetId"]: report["Drift"] for report in reports}


def products_event_actions(endpoint: DataExchangeEndpoint) -> dict[str, dict[str, Any]]:
    return {
        item["Event"]["RevisionPublished"]["DataSetId"]: item
        for item in endpoint.event_actions()
        if item["Tags"].get(PRODUCT_ID_TAG) == PRODUCT
    }


DELETED = {"deleted": "EventActionDeleted"}
CHANGED = {"changed": "EventActionChanged"}


@pytest.mark.parametrize(
    ("trigger", "reported"),
    [
        (None, {**DELETED, **CHANGED}),
        (ReconcileRequest.SCHEDULE, {**DELETED, **CHANGED}),
        # Data Exchange announced data sets: one without an event action is one of them
        (ReconcileRequest.PUBLISHED, CHANGED),
        # The rest of a Create or Update: what it makes or changes is the deploy's doing
        (ReconcileRequest.CONTINUATION, {}),
    ],
    ids=["no-trigger", "schedule", "data-sets-published", "continuation"],
)
def test_a_products_reconcile_restores_and_reports_as_drift_what_its_trigger_does_not_explain(
    deployed: Deployed, trigger: str | None, reported: dict[str, str]
) -> None:
    # Given someone deletes the event action of one of the product's data sets and points the other's elsewhere
    endpoint = deployed.endpoint
    data_sets = dict(zip(("deleted", "changed"), sorted(products_event_actions(endpoint)), strict=True))
    console = local_client(endpoint.url)
    console.delete_event_action(EventActionId=products_event_actions(endpoint)[data_sets["deleted"]]["Id"])
    elsewhere = action("elsewhere-bucket", "${DataSet.Id}/${Asset.Id}")
    console.update_event_action(
        EventActionId=products_event_actions(endpoint)[data_sets["changed"]]["Id"], Action=elsewhere
    )

    found = reconcile(deployed, trigger)

    assert found == {data_sets[role]: drift for role, drift in reported.items()}
    # Restored, whatever it reported
    buckets = {
        data_set: item["Action"]["ExportRevisionToS3"]["RevisionDestination"]["Bucket"]
        for data_set, item in products_event_actions(endpoint).items()
    }
    assert buckets == dict.fromkeys(data_sets.values(), deployed.bucket)


@pytest.mark.parametrize(
    "trigger", [ReconcileRequest.SCHEDULE, ReconcileRequest.PUBLISHED, ReconcileRequest.CONTINUATION]
)
def test_a_products_data_set_no_longer_entitled_is_reported_whatever_ran_the_reconcile(
    deployed: Deployed, trigger: str
) -> None:
    ended = next(iter(products_event_actions(deployed.endpoint)))
    deployed.endpoint.end_entitlement(ended)

    assert reconcile(deployed, trigger) == {ended: "DataSetNotEntitled"}
    assert ended not in products_event_actions(deployed.endpoint)


def test_a_continuation_goes_on_with_the_properties_its_deploy_began_with(deployed: Deployed) -> None:
    # Given an Update that moved the product to another bucket left work for a continuation, while the stack's
    # Metadata still says what was deployed before
    moving = {**deployed.runner.state().resources[deployed.logical_id("Product")].properties, "Bucket": "new-bucket"}
    request = {
        ReconcileRequest.STACK_ID: deployed.stack_id,
        ReconcileRequest.LOGICAL_ID: deployed.logical_id("Product"),
        ReconcileRequest.TRIGGER: ReconcileRequest.CONTINUATION,
        product_resource.PROPERTIES: moving,
    }

    product_resource.reconcile_after_deploy(deployed.clients, request)

    buckets = {
        i["Action"]["ExportRevisionToS3"]["RevisionDestination"]["Bucket"]
        for i in products_event_actions(deployed.endpoint).values()
    }
    assert buckets == {"new-bucket"}


def test_an_update_that_leaves_work_for_a_continuation_hands_it_the_updates_properties(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the product gained more data sets than one round of calls makes, and an Update moves it to another
    # bucket with no time left to make them all
    for n in range(20):
        deployed.endpoint.add_data_set(PRODUCT, f"Added {n}")
    product = deployed.runner.state().resources[deployed.logical_id("Product")]
    moving = {**product.properties, "Bucket": "new-bucket"}
    # (a deadline already passed: one round of calls, the rest for the continuation)
    update = Request(
        "Update",
        deployed.stack_id,
        deployed.logical_id("Product"),
        moving,
        product.physical_id,
        product.properties,
        deadline=time.monotonic(),
    )
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", product.properties["ServiceToken"])
    clients = Clients(
        dataexchange=deployed.clients.dataexchange,
        events=deployed.clients.events,
        cloudformation=deployed.clients.cloudformation,
        lambda_=client("lambda", deployed.aws.lambda_.url),
    )

    answer = product_resource.update(clients, update)
    deployed.aws.lambda_.wait()

    # When the continuation (the function, invoked at once) makes the rest, while the stack's Metadata still says
    # what was deployed before: Then every event action exports to the Update's bucket
    assert int(answer.data["EventActionCount"]) < int(answer.data["DataSetCount"]) == 22
    buckets = [
        item["Action"]["ExportRevisionToS3"]["RevisionDestination"]["Bucket"]
        for item in products_event_actions(deployed.endpoint).values()
    ]
    assert (len(buckets), set(buckets)) == (22, {"new-bucket"})
