"""The whole CloudFormation lifecycle, offline: the runner invokes the handler from the staged asset
in a Lambda-like process (standard library, boto3 and the asset only) against the local endpoint."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest

from app import STACK_NAME, AutoExportStack
from cdk_dataexchange_auto_export import AutoExportEventAction
from offline.dataexchange_endpoint import Fault, LocalDataExchange, local_client
from offline.lifecycle import LifecycleError, OfflineCloudFormation, StackState, SynthesizedStack

REPO = Path(__file__).resolve().parents[1]
LAMBDA_PYTHON = REPO / ".venv-lambda" / "bin" / "python"
DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
OTHER_DATA_SET = "aaaaaaaaaabbbbbbbbbbcccccccccc12"


@pytest.fixture(scope="module", autouse=True)
def lambda_python() -> None:
    if not LAMBDA_PYTHON.exists():
        pytest.fail(f"{LAMBDA_PYTHON} is missing: run `make setup` (the README's test command does)")


@pytest.fixture(scope="module")
def example_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStack:
    """The example app as `cdk deploy` would see it: synthesized once by the real CDK CLI."""
    return SynthesizedStack.synthesize(
        REPO, STACK_NAME, {"dataSetId": DATA_SET}, tmp_path_factory.mktemp("cli") / "cdk.out"
    )


def synthesize(new_cdk_app: Callable[..., cdk.App], **props: str) -> SynthesizedStack:
    """The example stack with other settings, synthesized in-process (a second `cdk synth`)."""
    app = new_cdk_app()
    AutoExportStack(app, STACK_NAME, **props)  # type: ignore[arg-type]
    assembly = app.synth()
    return SynthesizedStack(Path(assembly.directory), STACK_NAME)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "stack.json"


def cloudformation(
    stack: SynthesizedStack, state_file: Path, endpoint: LocalDataExchange, **parameters: str
) -> OfflineCloudFormation:
    return OfflineCloudFormation(stack, state_file, endpoint.url, LAMBDA_PYTHON, parameters)


def test_create_reports_the_event_action_as_stack_outputs(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    runner = cloudformation(example_app, state_file, endpoint)

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
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    runner = cloudformation(example_app, state_file, endpoint)

    runner.deploy()
    runner.destroy()

    # The runner raises if the signature appears; the URL itself must not appear either.
    for invocation in runner.invocations:
        assert "X-Amz-Signature" not in invocation.output
        assert "cloudformation-responses" not in invocation.output
        assert "INFO" in invocation.output  # the handler does log, at INFO


def test_update_of_the_key_pattern_keeps_the_event_action(
    new_cdk_app: Callable[..., cdk.App], example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    first = cloudformation(example_app, state_file, endpoint).deploy()
    changed = synthesize(new_cdk_app, data_set_id=DATA_SET, key_pattern="${Revision.Id}/${Asset.Name}")

    runner = cloudformation(changed, state_file, endpoint)
    second = runner.deploy()

    assert second["EventActionId"] == first["EventActionId"]
    [stored] = endpoint.event_actions()
    destination = stored["Action"]["ExportRevisionToS3"]["RevisionDestination"]
    assert destination["KeyPattern"] == "${Revision.Id}/${Asset.Name}"
    assert [invocation.request["RequestType"] for invocation in runner.invocations] == ["Update"]


def test_update_to_another_data_set_replaces_the_event_action(
    new_cdk_app: Callable[..., cdk.App], example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    first = cloudformation(example_app, state_file, endpoint).deploy()
    moved = synthesize(new_cdk_app, data_set_id=OTHER_DATA_SET)

    runner = cloudformation(moved, state_file, endpoint)
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
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    runner = cloudformation(example_app, state_file, endpoint)
    runner.deploy()

    runner.destroy()

    assert endpoint.event_actions() == []
    assert not state_file.exists()
    delete = runner.invocations[-1]
    assert delete.succeeded
    assert delete.seconds < 5, "crhelper's sleep_on_delete must stay small"


def test_delete_treats_an_event_action_deleted_out_of_band_as_success(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    runner = cloudformation(example_app, state_file, endpoint)
    outputs = runner.deploy()
    local_client(endpoint.url).delete_event_action(EventActionId=outputs["EventActionId"])

    runner.destroy()

    assert runner.invocations[-1].succeeded


def test_a_failed_create_rolls_back_with_a_delete_that_succeeds(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    # Given the service denies the create
    endpoint.inject("CreateEventAction", Fault("access_denied"))
    runner = cloudformation(example_app, state_file, endpoint)

    # When the stack is created
    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*access denied.*dataexchange:CreateEventAction"):
        runner.deploy()

    # Then the rollback's Delete of crhelper's invented id succeeds without calling the API
    create, rollback = runner.invocations
    invented = create.response["PhysicalResourceId"]
    assert invented.startswith(STACK_NAME)
    assert (rollback.request["RequestType"], rollback.request["PhysicalResourceId"]) == ("Delete", invented)
    assert rollback.succeeded
    assert "DeleteEventAction" not in [call.operation for call in endpoint.calls]
    assert endpoint.event_actions() == []


def test_the_same_create_delivered_twice_makes_one_event_action(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    from offline.response_server import ResponseServer

    runner = cloudformation(example_app, state_file, endpoint)
    state = StackState(stack_id=f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK_NAME}/x", resources={})
    [logical_id] = example_app.custom_resources()
    request = runner.request("Create", state, logical_id, runner._resolve_properties(logical_id, state))

    with ResponseServer() as responses:
        first = runner.invoke(responses, request)
        second = runner.invoke(responses, request)

    assert first.succeeded and second.succeeded
    assert first.response["PhysicalResourceId"] == second.response["PhysicalResourceId"]
    assert len(endpoint.event_actions()) == 1
    assert [call.operation for call in endpoint.calls].count("CreateEventAction") == 1


def test_throttling_on_the_first_calls_is_ridden_out(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    endpoint.inject("CreateEventAction", Fault("throttle", count=2))
    runner = cloudformation(example_app, state_file, endpoint)

    runner.deploy()

    assert len(endpoint.event_actions()) == 1
    statuses = [call.status for call in endpoint.calls if call.operation == "CreateEventAction"]
    assert statuses == [429, 429, 201]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault("access_denied"), r"CreateEventAction: access denied; the handler role needs dataexchange:Create"),
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
def test_a_service_error_fails_the_create_with_its_cause(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path, fault: Fault, reason: str
) -> None:
    endpoint.inject("CreateEventAction", fault)
    runner = cloudformation(example_app, state_file, endpoint)
    started = time.monotonic()

    with pytest.raises(LifecycleError, match=reason):
        runner.deploy()

    assert time.monotonic() - started < 45
    assert endpoint.event_actions() == []


def test_the_quota_of_event_actions_per_data_set_fails_the_create_with_the_limit_name(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path
) -> None:
    # Given the data set already has the 5 event actions the service allows
    dataexchange = local_client(endpoint.url)
    for _ in range(5):
        dataexchange.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "other-bucket"}}},
            Event={"RevisionPublished": {"DataSetId": DATA_SET}},
        )
    runner = cloudformation(example_app, state_file, endpoint)

    with pytest.raises(LifecycleError, match=r"quota 'Auto export event actions per data set' \(5\) reached"):
        runner.deploy()

    assert len(endpoint.event_actions()) == 5


def test_a_malformed_data_set_id_from_a_parameter_fails_before_any_api_call(
    new_cdk_app: Callable[..., cdk.App], endpoint: LocalDataExchange, state_file: Path
) -> None:
    # Given a data set id that was a token at synth time, so synth could not check it
    app = new_cdk_app()
    stack = cdk.Stack(app, "ParameterStack")
    data_set_id = cdk.CfnParameter(stack, "DataSetId", type="String")
    bucket = cdk.aws_s3.Bucket(stack, "Bucket")
    AutoExportEventAction(stack, "Export", data_set_id=data_set_id.value_as_string, bucket=bucket)
    synthesized = SynthesizedStack(Path(app.synth().directory), "ParameterStack")
    runner = cloudformation(synthesized, state_file, endpoint, DataSetId="not-a-data-set-id")

    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*DataSetId 'not-a-data-set-id' is not a data set id"):
        runner.deploy()

    assert endpoint.calls == []


def test_crhelper_comes_from_the_asset_not_from_the_lambda_environment(example_app: SynthesizedStack) -> None:
    result = subprocess.run(
        [str(LAMBDA_PYTHON), "-I", "-c", "import crhelper"], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0, "the Lambda-like environment must not have crhelper installed"
    function = example_app.function(
        next(key for key, value in example_app.resources.items() if value["Type"] == "AWS::Lambda::Function")
    )
    assert (function.asset_dir / "crhelper" / "resource_helper.py").exists()
