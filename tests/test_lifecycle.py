"""The whole CloudFormation lifecycle, offline: the runner invokes the handler from the staged asset
in a Lambda-like process (standard library, boto3 and the asset only) against the local endpoint."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import aws_cdk as cdk
import pytest

from app import STACK_NAME, AutoExportStack
from cdk_dataexchange_auto_export import RESOURCE_TYPE, AutoExportEventAction
from offline.assembly import SynthesizedStack
from offline.cloudformation import LifecycleError, OfflineCloudFormation
from offline.endpoints import Fault, LocalDataExchange, local_client
from offline.lambda_runtime import LambdaRuntime
from offline.toolchain import LAMBDA_PYTHON

Runner = Callable[..., OfflineCloudFormation]
DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
OTHER_DATA_SET = "aaaaaaaaaabbbbbbbbbbcccccccccc12"


@pytest.fixture(scope="module", autouse=True)
def lambda_python() -> None:
    if not LAMBDA_PYTHON.exists():
        pytest.fail(f"{LAMBDA_PYTHON} is missing: run `make setup` (the README's test command does)")


@pytest.fixture(scope="module")
def example_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedStack:
    """The example app as `cdk deploy` would see it: synthesized once by the real CDK CLI."""
    return SynthesizedStack.synthesize(STACK_NAME, {"dataSetId": DATA_SET}, tmp_path_factory.mktemp("cli") / "cdk.out")


def synthesize(new_cdk_app: Callable[..., cdk.App], **props: str) -> SynthesizedStack:
    """The example stack with other settings, synthesized in-process (a second `cdk synth`)."""
    app = new_cdk_app()
    AutoExportStack(app, STACK_NAME, **props)  # type: ignore[arg-type]
    assembly = app.synth()
    return SynthesizedStack(Path(assembly.directory), STACK_NAME)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "stack.json"


@pytest.fixture
def cloudformation(endpoint: LocalDataExchange, state_file: Path) -> Iterator[Runner]:
    """Makes runners for one stack (one state file) whose handler calls the test's endpoint."""
    runtime = LambdaRuntime(LAMBDA_PYTHON, {"AWS_ENDPOINT_URL_DATAEXCHANGE": endpoint.url})
    with ExitStack() as runners:

        def runner(stack: SynthesizedStack, **parameters: str) -> OfflineCloudFormation:
            return runners.enter_context(OfflineCloudFormation(stack, state_file, runtime, parameters))

        yield runner


def test_create_reports_the_event_action_as_stack_outputs(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, cloudformation: Runner
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
    new_cdk_app: Callable[..., cdk.App],
    example_app: SynthesizedStack,
    endpoint: LocalDataExchange,
    cloudformation: Runner,
) -> None:
    first = cloudformation(example_app).deploy()
    changed = synthesize(new_cdk_app, data_set_id=DATA_SET, key_pattern="${Revision.Id}/${Asset.Name}")

    runner = cloudformation(changed)
    second = runner.deploy()

    assert second["EventActionId"] == first["EventActionId"]
    [stored] = endpoint.event_actions()
    destination = stored["Action"]["ExportRevisionToS3"]["RevisionDestination"]
    assert destination["KeyPattern"] == "${Revision.Id}/${Asset.Name}"
    assert [invocation.request["RequestType"] for invocation in runner.invocations] == ["Update"]


def test_update_to_another_data_set_replaces_the_event_action(
    new_cdk_app: Callable[..., cdk.App],
    example_app: SynthesizedStack,
    endpoint: LocalDataExchange,
    cloudformation: Runner,
) -> None:
    first = cloudformation(example_app).deploy()
    moved = synthesize(new_cdk_app, data_set_id=OTHER_DATA_SET)

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
    example_app: SynthesizedStack, endpoint: LocalDataExchange, state_file: Path, cloudformation: Runner
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
    example_app: SynthesizedStack, endpoint: LocalDataExchange, cloudformation: Runner
) -> None:
    runner = cloudformation(example_app)
    outputs = runner.deploy()
    local_client(endpoint.url).delete_event_action(EventActionId=outputs["EventActionId"])

    runner.destroy()

    assert runner.invocations[-1].succeeded


def test_a_failed_create_rolls_back_with_a_delete_that_succeeds(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, cloudformation: Runner
) -> None:
    # Given the service denies the create
    endpoint.inject("CreateEventAction", Fault("access_denied"))
    runner = cloudformation(example_app)

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
    example_app: SynthesizedStack, endpoint: LocalDataExchange, cloudformation: Runner
) -> None:
    runner = cloudformation(example_app)
    [logical_id] = example_app.of_type(RESOURCE_TYPE)
    request = runner.request("Create", logical_id)

    first = runner.invoke(request)
    second = runner.invoke(request)

    assert first.succeeded and second.succeeded
    assert first.response["PhysicalResourceId"] == second.response["PhysicalResourceId"]
    assert len(endpoint.event_actions()) == 1
    assert [call.operation for call in endpoint.calls].count("CreateEventAction") == 1


def test_throttling_on_the_first_calls_is_ridden_out(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, cloudformation: Runner
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
    example_app: SynthesizedStack, endpoint: LocalDataExchange, fault: Fault, reason: str, cloudformation: Runner
) -> None:
    endpoint.inject("CreateEventAction", fault)
    runner = cloudformation(example_app)
    started = time.monotonic()

    with pytest.raises(LifecycleError, match=reason):
        runner.deploy()

    assert time.monotonic() - started < 45
    assert endpoint.event_actions() == []


def test_the_quota_of_event_actions_per_data_set_fails_the_create_with_the_limit_name(
    example_app: SynthesizedStack, endpoint: LocalDataExchange, cloudformation: Runner
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
    new_cdk_app: Callable[..., cdk.App], endpoint: LocalDataExchange, cloudformation: Runner
) -> None:
    # Given a data set id that was a token at synth time, so synth could not check it
    app = new_cdk_app()
    stack = cdk.Stack(app, "ParameterStack")
    data_set_id = cdk.CfnParameter(stack, "DataSetId", type="String")
    bucket = cdk.aws_s3.Bucket(stack, "Bucket")
    AutoExportEventAction(stack, "Export", data_set_id=data_set_id.value_as_string, bucket=bucket)
    synthesized = SynthesizedStack(Path(app.synth().directory), "ParameterStack")
    runner = cloudformation(synthesized, DataSetId="not-a-data-set-id")

    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*DataSetId 'not-a-data-set-id' is not a data set id"):
        runner.deploy()

    assert endpoint.calls == []


def test_crhelper_comes_from_the_asset_not_from_the_lambda_environment(example_app: SynthesizedStack) -> None:
    result = subprocess.run(
        [str(LAMBDA_PYTHON), "-I", "-c", "import crhelper"], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0, "the Lambda-like environment must not have crhelper installed"
    (function_id,) = example_app.of_type("AWS::Lambda::Function")
    function = example_app.function(function_id)
    assert (function.asset_dir / "crhelper" / "resource_helper.py").exists()
