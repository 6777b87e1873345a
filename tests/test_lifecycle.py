"""The whole CloudFormation lifecycle, offline: the runner invokes the handler from the staged asset
in a Lambda-like process (standard library, boto3 and the asset only) against the local endpoint.

Every test runs once per Lambda-like runtime (the pinned boto3, and boto3 1.34, whose model lacks the
event-action Tags the handler sends), and every call the handler makes is checked against its role.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from support import DATA_SET, OTHER_DATA_SET, Runner, synthesize_example, synthesize_keyed, synthesized

from app import STACK_NAME
from cdk_dataexchange_auto_export import (
    EVENT_ACTION_RESOURCE_TYPE,
    AutoExportEventAction,
    AutoExportEventActionProvider,
)
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.cloudformation import LifecycleError
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault, local_client
from cdk_dataexchange_auto_export.local.iam import PermissionAudit
from cdk_dataexchange_auto_export.local.lambda_runtime import LambdaRuntime
from dataexchange_auto_export_handler.contract import LOGICAL_ID_TAG, STACK_ID_TAG
from tools.toolchain import LAMBDA_VENVS


# The stacks the tests deploy besides the example app, each synthesized once for the module (both runtimes):
# the runner reads an assembly and never writes to it.
@pytest.fixture(scope="module")
def key_pattern_changed(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """The example app with another key pattern."""
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET, key_pattern="${Revision.Id}/${Asset.Name}")


@pytest.fixture(scope="module")
def moved(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """The example app on another data set."""
    return synthesize_example(new_cdk_app, data_set_id=OTHER_DATA_SET)


@pytest.fixture(scope="module")
def data_set_from_a_parameter(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """A data set id that is a token at synth time, so synth could not check it."""
    stack = cdk.Stack(new_cdk_app(), "ParameterStack")
    data_set_id = cdk.CfnParameter(stack, "DataSetId", type="String")
    bucket = cdk.aws_s3.Bucket(stack, "Bucket")
    AutoExportEventAction(stack, "Export", data_set_id=data_set_id.value_as_string, bucket=bucket)
    return synthesized(stack)


@pytest.fixture(scope="module")
def dev_and_prod(new_cdk_app: Callable[..., cdk.App]) -> tuple[SynthesizedStack, SynthesizedStack]:
    """Dev and prod of the example app, each from its own app."""
    dev = synthesize_example(new_cdk_app, "Dev", data_set_id=DATA_SET)
    return dev, synthesize_example(new_cdk_app, "Prod", data_set_id=DATA_SET)


@pytest.fixture(scope="module")
def keyed(new_cdk_app: Callable[..., cdk.App]) -> tuple[SynthesizedStack, SynthesizedStack]:
    """A KMS key, a ${DataSet.Name} pattern and tags; then another pattern and other tags."""
    created = synthesize_keyed(
        new_cdk_app, "${DataSet.Name}/${Asset.Name}", tags={"team": "market-data", "cost-centre": "42"}
    )
    updated = synthesize_keyed(new_cdk_app, "${DataSet.Name}/${Revision.Id}/${Asset.Name}", tags={"team": "research"})
    return created, updated


@pytest.fixture(scope="module")
def adopting(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """The example app on the existing bucket "existing-bucket", adopting an event action made elsewhere."""
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET, bucket_name="existing-bucket", adopt_existing=True)


@pytest.fixture(scope="module")
def not_adopting(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """The example app on the existing bucket "existing-bucket", without adopt_existing."""
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET, bucket_name="existing-bucket")


def create_elsewhere(endpoint: DataExchangeEndpoint, data_set: str = DATA_SET, **destination: Any) -> str:
    """An event action made outside the stack, as the console makes it: no KeyPattern, no Encryption."""
    created = local_client(endpoint.url).create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": destination}},
        Event={"RevisionPublished": {"DataSetId": data_set}},
        Tags={"made-by": "console"},
    )
    return created["Id"]


def handler_calls(endpoint: DataExchangeEndpoint, operation: str) -> int:
    return sum(1 for call in endpoint.calls if call.operation == operation and call.caller != "testing")


@pytest.mark.every_runtime
def test_create_reports_the_event_action_as_stack_outputs(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    runner = cloudformation(example_app)

    outputs = runner.deploy()

    [stored] = endpoint.event_actions()
    assert outputs["EventActionId"] == stored["Id"]
    assert outputs["EventActionArn"] == f"arn:aws:dataexchange:us-east-1:123456789012:event-actions/{stored['Id']}"
    assert stored["Event"] == {"RevisionPublished": {"DataSetId": DATA_SET}}
    [create] = runner.invocations
    assert create.response["PhysicalResourceId"] == stored["Id"]
    assert set(create.response["Data"]) == {"Arn", "Id", "CreatedAt", "UpdatedAt"}
    assert all(isinstance(value, str) for value in create.response["Data"].values())
    assert create.response_bytes <= 4096


def test_the_response_url_signature_never_reaches_the_logs(
    example_app: SynthesizedStack, cloudformation: Runner
) -> None:
    runner = cloudformation(example_app)

    runner.deploy()
    runner.destroy()

    # The runner raises if the signature appears; the URL itself must not appear either.
    for invocation in runner.invocations:
        assert "X-Amz-Signature" not in invocation.execution.output
        assert "cloudformation-responses" not in invocation.execution.output
        assert "INFO" in invocation.execution.output  # the handler does log, at INFO


def test_update_of_the_key_pattern_keeps_the_event_action(
    key_pattern_changed: SynthesizedStack,
    example_app: SynthesizedStack,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
) -> None:
    first = cloudformation(example_app).deploy()

    runner = cloudformation(key_pattern_changed)
    second = runner.deploy()

    assert second["EventActionId"] == first["EventActionId"]
    [stored] = endpoint.event_actions()
    destination = stored["Action"]["ExportRevisionToS3"]["RevisionDestination"]
    assert destination["KeyPattern"] == "${Revision.Id}/${Asset.Name}"
    assert [invocation.request["RequestType"] for invocation in runner.invocations] == ["Update"]


def test_update_to_another_data_set_replaces_the_event_action(
    moved: SynthesizedStack,
    example_app: SynthesizedStack,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
) -> None:
    first = cloudformation(example_app).deploy()

    runner = cloudformation(moved)
    second = runner.deploy()

    assert second["EventActionId"] != first["EventActionId"]
    [stored] = endpoint.event_actions()
    assert stored["Id"] == second["EventActionId"]
    assert stored["Event"]["RevisionPublished"]["DataSetId"] == OTHER_DATA_SET
    update, cleanup = runner.invocations
    assert update.request["RequestType"] == "Update"
    assert (cleanup.request["RequestType"], cleanup.request["PhysicalResourceId"]) == (
        "Delete",
        first["EventActionId"],
    )


def test_destroy_leaves_the_endpoint_without_event_actions(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, state_file: Path, cloudformation: Runner
) -> None:
    runner = cloudformation(example_app)
    runner.deploy()

    runner.destroy()

    assert endpoint.event_actions() == []
    assert not state_file.exists()
    delete = runner.invocations[-1]
    assert delete.succeeded
    assert delete.execution.seconds < 5, "crhelper's sleep_on_delete must stay small"


def test_delete_treats_an_event_action_deleted_out_of_band_as_success(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    runner = cloudformation(example_app)
    outputs = runner.deploy()
    local_client(endpoint.url).delete_event_action(EventActionId=outputs["EventActionId"])

    runner.destroy()

    delete = runner.invocations[-1]
    assert (delete.request["RequestType"], delete.request["PhysicalResourceId"]) == ("Delete", outputs["EventActionId"])
    assert (delete.response["Status"], delete.response["PhysicalResourceId"]) == ("SUCCESS", outputs["EventActionId"])
    # The handler tried the delete once, met not-found, and made nothing new
    handler = [(call.operation, call.status) for call in endpoint.calls if call.caller != "testing"]
    assert handler[-1] == ("DeleteEventAction", 404)
    assert handler_calls(endpoint, "CreateEventAction") == 1
    assert endpoint.event_actions() == []


def test_a_failed_create_rolls_back_with_a_delete_that_succeeds(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given the service refuses the create
    endpoint.inject("CreateEventAction", Fault("validation"))
    runner = cloudformation(example_app)

    # When the stack is created
    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*CreateEventAction: ValidationException"):
        runner.deploy()

    # Then the rollback's Delete of crhelper's invented id succeeds, finding nothing the resource made
    create, rollback = runner.invocations
    invented = create.response["PhysicalResourceId"]
    assert invented.startswith(STACK_NAME)
    assert (rollback.request["RequestType"], rollback.request["PhysicalResourceId"]) == ("Delete", invented)
    assert rollback.succeeded
    assert "DeleteEventAction" not in [call.operation for call in endpoint.calls]
    assert endpoint.event_actions() == []


def test_the_same_create_delivered_twice_makes_one_event_action(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    runner = cloudformation(example_app)
    [logical_id] = example_app.of_type(EVENT_ACTION_RESOURCE_TYPE)
    request = runner.request("Create", logical_id)

    first = runner.invoke(request)
    second = runner.invoke(request)

    assert first.succeeded and second.succeeded
    assert first.response["PhysicalResourceId"] == second.response["PhysicalResourceId"]
    assert len(endpoint.event_actions()) == 1
    assert [call.operation for call in endpoint.calls].count("CreateEventAction") == 1


@pytest.mark.every_runtime
def test_throttling_on_the_first_calls_is_ridden_out(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    endpoint.inject("CreateEventAction", Fault("throttle", count=2))
    runner = cloudformation(example_app)

    runner.deploy()

    assert len(endpoint.event_actions()) == 1
    statuses = [call.status for call in endpoint.calls if call.operation == "CreateEventAction"]
    assert statuses == [429, 429, 201]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            Fault("access_denied", count=100),
            r"CreateEventAction: access denied; the handler role needs dataexchange:CreateEventAction\. "
            r"User is not authorized to perform dataexchange:CreateEventAction \(injected\)$",
        ),
        (
            Fault("validation", exception_cause="InsufficientS3BucketPolicy"),
            r"bucket dataexchangeautoexport-\S+ has no policy letting dataexchange.amazonaws.com .*"
            r"\(InsufficientS3BucketPolicy\)",
        ),
        (Fault("validation", exception_cause="S3AccessDenied"), r"cannot write to bucket .*\(S3AccessDenied\)"),
        (Fault("internal", count=10), r"CreateEventAction: InternalServerException after 6 attempts"),
    ],
    ids=["access-denied", "bucket-policy", "s3-access-denied", "internal-error"],
)
@pytest.mark.every_runtime
def test_a_service_error_fails_the_create_with_its_cause(
    example_app: SynthesizedStack,
    endpoint: DataExchangeEndpoint,
    fault: Fault,
    reason: str,
    cloudformation: Runner,
    lambda_python: Path,
) -> None:
    if fault.kind == "internal" and lambda_python == LAMBDA_VENVS["boto3-1.34"][0] / "bin" / "python":
        pytest.skip("botocore 1.34 backs off from 1 s after a 5xx: 16 s of real waiting that tests botocore, not us")
    endpoint.inject("CreateEventAction", fault)
    # A denial is retried for a while (IAM changes take seconds to be seen), ending 20 s before the invocation's
    # timeout: 22 s leave 2 s of retries.
    (handler,) = example_app.of_type("AWS::Lambda::Function")
    runner = cloudformation(example_app, timeouts={handler: 22} if fault.kind == "access_denied" else None)

    with pytest.raises(LifecycleError, match=reason):
        runner.deploy()

    assert endpoint.event_actions() == []
    # Retried as the retry configuration says, then reported: 6 attempts for a server error, those 2 s allow for
    # a denial (after 1 s, then what is left of the 2 s), 1 otherwise.
    expected = {"internal": range(6, 7), "access_denied": range(2, 4)}.get(fault.kind, range(1, 2))
    assert handler_calls(endpoint, "CreateEventAction") in expected


def test_the_quota_of_event_actions_per_data_set_fails_the_create_with_the_limit_name(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given the data set already has the 5 event actions the service allows
    dataexchange = local_client(endpoint.url)
    for _ in range(5):
        dataexchange.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "other-bucket"}}},
            Event={"RevisionPublished": {"DataSetId": DATA_SET}},
        )
    runner = cloudformation(example_app)

    with pytest.raises(LifecycleError, match=r"quota 'Auto export event actions per data set' \(5\) reached"):
        runner.deploy()

    assert len(endpoint.event_actions()) == 5


def test_a_malformed_data_set_id_from_a_parameter_fails_before_any_api_call(
    data_set_from_a_parameter: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given a data set id that was a token at synth time, so synth could not check it
    runner = cloudformation(data_set_from_a_parameter, DataSetId="not-a-data-set-id")

    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*DataSetId 'not-a-data-set-id' is not a data set id"):
        runner.deploy()

    assert endpoint.calls == []


def test_crhelper_comes_from_the_asset_not_from_the_lambda_environment(
    example_app: SynthesizedStack, lambda_python: Path
) -> None:
    result = subprocess.run([str(lambda_python), "-I", "-c", "import crhelper"], capture_output=True, check=False)
    assert result.returncode != 0, "the Lambda-like environment must not have crhelper installed"
    (function_id,) = example_app.of_type("AWS::Lambda::Function")
    function = example_app.function(function_id)
    assert (function.asset_dir / "crhelper" / "resource_helper.py").exists()


def test_a_data_set_the_account_cannot_see_fails_with_what_to_check_first(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given the service does not find the data set (another Region's, or not subscribed to)
    endpoint.inject("ListEventActions", Fault("not_found"))

    with pytest.raises(
        LifecycleError,
        match=rf"CREATE_FAILED .*data set {DATA_SET} not found in us-east-1\. Deploy the stack in the Region "
        r"where the provider published the data set .* subscribed",
    ):
        cloudformation(example_app).deploy()


def test_the_same_data_set_change_delivered_twice_leaves_one_event_action_on_the_new_data_set(
    moved: SynthesizedStack,
    example_app: SynthesizedStack,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
) -> None:
    first = cloudformation(example_app).deploy()
    runner = cloudformation(moved)
    [logical_id] = moved.of_type(EVENT_ACTION_RESOURCE_TYPE)
    request = runner.request("Update", logical_id)

    # When CloudFormation delivers the replacing Update twice
    replies = [runner.invoke(request).response["PhysicalResourceId"] for _ in range(2)]

    # Then both answer with the one replacement, and the old event action waits for its cleanup Delete
    on_new = [
        item["Id"]
        for item in endpoint.event_actions()
        if item["Event"]["RevisionPublished"]["DataSetId"] == OTHER_DATA_SET
    ]
    assert replies == on_new * 2
    assert first["EventActionId"] not in on_new


def test_a_repeated_create_finds_its_event_action_beyond_the_first_page(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given three event actions of others on the data set: the endpoint lists three a page, so ours is on page two
    for number in range(3):
        create_elsewhere(endpoint, Bucket=f"other-bucket-{number}")
    runner = cloudformation(example_app)
    [logical_id] = example_app.of_type(EVENT_ACTION_RESOURCE_TYPE)
    request = runner.request("Create", logical_id)

    first, second = runner.invoke(request), runner.invoke(request)

    assert first.response["PhysicalResourceId"] == second.response["PhysicalResourceId"]
    assert len(endpoint.event_actions()) == 4
    assert handler_calls(endpoint, "CreateEventAction") == 1


def test_two_stacks_with_the_same_logical_id_get_an_event_action_each(
    dev_and_prod: tuple[SynthesizedStack, SynthesizedStack],
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
    tmp_path: Path,
) -> None:
    # Given dev and prod from one app in one account: same construct path, so the same logical id
    dev, prod = dev_and_prod
    assert dev.of_type(EVENT_ACTION_RESOURCE_TYPE) == prod.of_type(EVENT_ACTION_RESOURCE_TYPE)

    outputs = [cloudformation(stack, state=tmp_path / f"{stack.stack_name}.json").deploy() for stack in (dev, prod)]

    assert sorted(item["Id"] for item in endpoint.event_actions()) == sorted(out["EventActionId"] for out in outputs)
    assert len({out["EventActionId"] for out in outputs}) == 2
    buckets = {
        item["Action"]["ExportRevisionToS3"]["RevisionDestination"]["Bucket"] for item in endpoint.event_actions()
    }
    assert buckets == {out["BucketName"] for out in outputs}


@pytest.mark.every_runtime
def test_a_whole_lifecycle_uses_every_grant_of_the_role(
    keyed: tuple[SynthesizedStack, SynthesizedStack],
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
    permission_audit: PermissionAudit,
) -> None:
    """With a KMS key, a ${DataSet.Name} pattern and tags: Create, Update (Action and tags), a day's drift check (which
    finds the data set, never entitled here, not entitled) and Delete use every action of every statement of the
    role; a grant nothing uses is one to remove."""
    created_stack, updated_stack = keyed

    cloudformation(created_stack).deploy()
    [created] = endpoint.event_actions()
    updated_runner = cloudformation(updated_stack)
    updated_runner.deploy()
    [stored] = endpoint.event_actions()
    aws.bus.run_schedules()
    aws.lambda_.wait()
    updated_runner.destroy()

    assert stored["Id"] == created["Id"]
    assert {key: value for key, value in stored["Tags"].items() if ":" not in key} == {"team": "research"}
    encryption = stored["Action"]["ExportRevisionToS3"]["Encryption"]
    assert encryption["Type"] == "aws:kms" and encryption["KmsKeyArn"].startswith("arn:aws:kms:us-east-1:")
    assert endpoint.event_actions() == []
    assert permission_audit.unused() == []
    assert {grant.action for grant in permission_audit.used} == {
        "cloudformation:DescribeStackResource",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dataexchange:CreateEventAction",
        "dataexchange:GetEventAction",
        "dataexchange:UpdateEventAction",
        "dataexchange:DeleteEventAction",
        "dataexchange:TagResource",
        "dataexchange:UntagResource",
        "dataexchange:ListEventActions",
        "dataexchange:GetDataSet",
        "kms:CreateGrant",
        "kms:RevokeGrant",
        "cloudformation:ListStackResources",
        "dataexchange:ListDataSets",
        "events:PutEvents",
    }


# --- adoption --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [{"answers": "as sent"}, {"answers": "defaults filled in"}, {"answers": "defaults left out"}],
    indirect=True,
    ids=["as-sent", "defaults-filled-in", "defaults-left-out"],
)
def test_adopt_existing_takes_over_an_event_action_made_elsewhere(
    adopting: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given the console made an event action to the stack's bucket (default pattern, SSE-S3, in whatever
    # form the service answers)
    existing = create_elsewhere(endpoint, Bucket="existing-bucket")
    runner = cloudformation(adopting)

    outputs = runner.deploy()

    # Then the stack manages that one: tagged as its own, nothing created, its Action left alone
    [stored] = endpoint.event_actions()
    assert outputs["EventActionId"] == stored["Id"] == existing
    assert stored["Tags"] == {
        STACK_ID_TAG: runner.state().stack_id,
        LOGICAL_ID_TAG: adopting.of_type(EVENT_ACTION_RESOURCE_TYPE)[0],
    }
    assert stored["Action"] == {"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "existing-bucket"}}}
    assert [handler_calls(endpoint, operation) for operation in ("CreateEventAction", "UpdateEventAction")] == [0, 0]

    # And deletes it with the stack
    runner.destroy()
    assert endpoint.event_actions() == []


def test_without_adopt_existing_an_event_action_made_elsewhere_fails_the_create(
    not_adopting: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # The default pattern spelled out there, left out here: the same destination.
    existing = create_elsewhere(endpoint, Bucket="existing-bucket", KeyPattern="${Revision.CreatedAt}/${Asset.Name}")

    with pytest.raises(
        LifecycleError,
        match=rf"CREATE_FAILED .*: Event action {existing} already exports data set {DATA_SET} to bucket "
        r"existing-bucket: delete it, or set adopt_existing=True to manage it from this stack",
    ):
        cloudformation(not_adopting).deploy()

    # Nothing was created, and the rollback left the existing one alone
    assert [item["Id"] for item in endpoint.event_actions()] == [existing]
    assert handler_calls(endpoint, "CreateEventAction") == 0


def test_an_event_action_to_another_destination_is_neither_adopted_nor_in_the_way(
    adopting: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    other = create_elsewhere(endpoint, Bucket="existing-bucket", KeyPattern="${Asset.Id}")

    outputs = cloudformation(adopting).deploy()

    assert outputs["EventActionId"] != other
    assert {item["Id"] for item in endpoint.event_actions()} == {other, outputs["EventActionId"]}
    assert [item["Tags"] for item in endpoint.event_actions() if item["Id"] == other] == [{"made-by": "console"}]


def test_adoption_survives_a_duplicate_create_delivery(
    adopting: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    existing = create_elsewhere(endpoint, Bucket="existing-bucket")
    runner = cloudformation(adopting)
    request = runner.request("Create", adopting.of_type(EVENT_ACTION_RESOURCE_TYPE)[0])

    replies = [runner.invoke(request).response["PhysicalResourceId"] for _ in range(2)]

    assert replies == [existing, existing]
    assert [item["Id"] for item in endpoint.event_actions()] == [existing]


@pytest.mark.parametrize(
    "endpoint",
    [{"answers": "defaults filled in"}, {"answers": "defaults left out"}],
    indirect=True,
    ids=["defaults-filled-in", "defaults-left-out"],
)
def test_an_equivalent_answer_is_not_a_change(
    example_app: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given the service answers with the defaults spelled out or left out, unlike what the handler sent
    runner = cloudformation(example_app)
    runner.deploy()

    # When CloudFormation sends an Update with nothing changed
    update = runner.invoke(runner.request("Update", example_app.of_type(EVENT_ACTION_RESOURCE_TYPE)[0]))

    # Then the handler reads the event action and writes nothing
    assert update.succeeded
    assert [handler_calls(endpoint, op) for op in ("UpdateEventAction", "TagResource", "UntagResource")] == [0, 0, 0]


# --- the API model the handler carries ---------------------------------------------------------------


def test_an_old_boto3_fails_without_the_bundled_model(
    example_app: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, tmp_path: Path
) -> None:
    # Given the example's assembly with the bundled model taken out, on boto3 1.34 (no event-action Tags)
    assembly = tmp_path / "cdk.out"
    shutil.copytree(example_app.assembly_dir, assembly)
    stack = SynthesizedStack(assembly, STACK_NAME)
    (function_id,) = stack.of_type("AWS::Lambda::Function")
    shutil.rmtree(stack.function(function_id).asset_dir / "dataexchange_auto_export_handler" / "botocore_data")
    python = LAMBDA_VENVS["boto3-1.34"][0] / "bin" / "python"
    runtime = LambdaRuntime(python, aws.environment())

    # Then the Create fails in botocore, before it reaches the service
    with (
        aws.cloudformation(stack, tmp_path / "stack.json", runtime) as runner,
        pytest.raises(LifecycleError, match=r'(?s)CREATE_FAILED .*Unknown parameter in input: "Tags"'),
    ):
        runner.deploy()
    assert "CreateEventAction" not in [call.operation for call in endpoint.calls]


def moving_stack(new_cdk_app: Callable[..., cdk.App], construct_id: str, **props: Any) -> SynthesizedStack:
    """Stack "Moving": one construct exporting DATA_SET to the stack's bucket, under `construct_id`; with
    `own_provider`, served by a provider of the stack's own rather than the shared one."""
    stack = cdk.Stack(new_cdk_app(), "Moving")
    bucket = cdk.aws_s3.Bucket(stack, "Destination")
    if props.pop("own_provider", False):
        props["provider"] = AutoExportEventActionProvider(stack, "OwnProvider")
    AutoExportEventAction(stack, construct_id, data_set_id=DATA_SET, bucket=bucket, **props)
    return synthesized(stack)


def test_a_construct_moved_to_a_provider_of_its_own_keeps_exporting_through_the_same_event_action(
    new_cdk_app: Callable[..., cdk.App], endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given a deployed construct
    cloudformation(moving_stack(new_cdk_app, "AutoExport")).deploy()
    [original] = endpoint.event_actions()
    # When it moves to a provider of its own: a new construct id (its ServiceToken cannot change in place),
    # adopting the event action, after which CloudFormation deletes the old custom resource
    moved = moving_stack(new_cdk_app, "Moved", own_provider=True, adopt_existing=True)
    cloudformation(moved).deploy()

    # Then the old resource's Delete left the event action to its new owner, which exports as before
    [kept] = endpoint.event_actions()
    assert kept["Id"] == original["Id"]
    assert kept["Tags"][LOGICAL_ID_TAG].startswith("Moved")
