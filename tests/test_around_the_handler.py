"""What CloudFormation, Lambda and IAM do around the handler, each played by the stand-ins as AWS documents it,
through the offline runner with IAM deciding every call as it is made: Lambda's retries and duplicate deliveries of
an asynchronous invocation, a Create cancelled while it runs, the cleanup Delete after the policy update, a new
statement not seen at once, and a Create whose answer was lost (issue 24). Every test runs on both Lambda-like
runtimes unless it says why not, and every call is checked against the role afterwards too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from support import DATA_SET, OTHER_DATA_SET, Runner, synthesize_example, synthesized

from cdk_dataexchange_auto_export import (
    EVENT_ACTION_RESOURCE_TYPE,
    AutoExportEventAction,
    AutoExportEventActionProvider,
    ExistingRevisions,
)
from cdk_dataexchange_auto_export.local.account import ACCOUNT, REGION
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.cloudformation import LifecycleError, OfflineCloudFormation
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault
from cdk_dataexchange_auto_export.local.endpoints.protocol import Authorization
from cdk_dataexchange_auto_export.local.iam import LocalIam
from cdk_dataexchange_auto_export.local.lambda_runtime import LambdaRuntime, access_key_of
from tools.toolchain import LAMBDA_VENVS


@pytest.fixture
def aws(endpoint: DataExchangeEndpoint, request: pytest.FixtureRequest) -> Iterator[OfflineAws]:
    """The offline account with IAM deciding each call when it is made; parametrize indirectly with LocalIam's
    keyword arguments (`{"propagation_seconds": 2}`: a statement a deploy adds is denied for 2 s)."""
    with OfflineAws(dataexchange=endpoint, iam=LocalIam(**getattr(request, "param", {}))) as services:
        yield services


@pytest.fixture(scope="module")
def example(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET)


@pytest.fixture(scope="module")
def backfilling(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET, export_existing=ExistingRevisions.ALL)


def keys_stack(new_cdk_app: Callable[..., cdk.App], *names: str) -> SynthesizedStack:
    """Stack "Keys": a construct per name, each exporting its own data set under a key of its own."""
    stack = cdk.Stack(new_cdk_app(), "Keys")
    bucket = s3.Bucket(stack, "Destination")
    data_sets = {"First": DATA_SET, "Second": OTHER_DATA_SET}
    for name in names:
        key = kms.Key(stack, f"{name}Key")
        AutoExportEventAction(stack, name, data_set_id=data_sets[name], bucket=bucket, encryption_key=key)
    return synthesized(stack)


@pytest.fixture(scope="module")
def two_keys(new_cdk_app: Callable[..., cdk.App]) -> tuple[SynthesizedStack, SynthesizedStack]:
    """Two constructs with a key each; then the same stack without the second."""
    return keys_stack(new_cdk_app, "First", "Second"), keys_stack(new_cdk_app, "First")


def handler_of(stack: SynthesizedStack) -> str:
    (handler,) = [key for key in stack.of_type("AWS::Lambda::Function") if "Handler" in key]
    return handler


def handler_calls(endpoint: DataExchangeEndpoint, operation: str, status: int | None = None) -> int:
    return sum(
        1
        for call in endpoint.calls
        if call.operation == operation and call.caller != "testing" and status in (None, call.status)
    )


def boto3_1_34(python: Path) -> bool:
    return python == LAMBDA_VENVS["boto3-1.34"][0] / "bin" / "python"


# --- 3. CloudFormation invokes the handler asynchronously, and Lambda retries ----------------------------------


def test_lambda_never_retries_the_handler_and_drops_a_request_queued_over_a_minute(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Invoked")
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"))
    template = Template.from_stack(stack)
    (handler,) = template.find_resources("AWS::Lambda::Function")

    (config,) = template.find_resources("AWS::Lambda::EventInvokeConfig").values()

    assert config["Properties"] == {
        "FunctionName": {"Ref": handler},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
    }


def test_a_create_that_timed_out_is_not_retried_after_its_rollback(
    example: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner, lambda_python: Path
) -> None:
    if boto3_1_34(lambda_python):
        pytest.skip("Lambda's retries and the invoke config are the player's and the template's: one runtime shows it")
    # Given the data set's list held past the handler's 2 s timeout: crhelper answers FAILED just before it, and
    # Lambda stops the invocation (an error, which Lambda would retry a minute later)
    endpoint.inject("ListEventActions", Fault("latency", seconds=8))
    runner = cloudformation(example, timeouts={handler_of(example): 2})

    # When the stack is created, and rolled back
    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*: Invalid PhysicalResourceId"):
        runner.deploy()

    # Then Lambda delivers the request no more, and nothing is left
    assert runner.redeliveries == []
    assert endpoint.event_actions() == []


@pytest.fixture(scope="module")
def retried_by_lambda(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """Lambda's default retries put back on the handler through an escape hatch: 2 retries, 6 hours."""
    stack = cdk.Stack(new_cdk_app(), "Retried")
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"))
    config = AutoExportEventActionProvider.of(stack).function.node.find_child("EventInvokeConfig").node.default_child
    assert isinstance(config, cdk.CfnResource)
    config.add_property_override("MaximumRetryAttempts", 2)
    config.add_property_override("MaximumEventAgeInSeconds", 21600)
    return synthesized(stack)


def test_a_create_lambda_retries_after_its_rollback_is_refused(
    retried_by_lambda: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner, lambda_python: Path
) -> None:
    if boto3_1_34(lambda_python):
        pytest.skip("a timeout takes 7 s here; the handler's refusal runs on both runtimes in the next test")
    # Given a Create that times out (crhelper answers FAILED before), and Lambda retrying it as it does by default
    endpoint.inject("ListEventActions", Fault("latency", seconds=8))
    runner = cloudformation(retried_by_lambda, timeouts={handler_of(retried_by_lambda): 2})

    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*: Invalid PhysicalResourceId"):
        runner.deploy()

    # Then Lambda's retry, a minute later, after the rollback, finds its resource gone and makes nothing
    [(retry, answer)] = runner.redeliveries
    assert len(retry.attempts) == 2
    assert answer is not None and "is no longer awaited" in answer["Reason"]
    assert endpoint.event_actions() == []


def test_a_create_delivered_again_after_its_rollback_makes_nothing(
    example: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given a Create that fails and is rolled back, which Lambda delivers a second time later, as it may
    endpoint.inject("CreateEventAction", Fault("validation"))
    runner = cloudformation(example)
    (logical_id,) = example.of_type(EVENT_ACTION_RESOURCE_TYPE)
    runner.deliver_twice("Create", logical_id)

    with pytest.raises(LifecycleError, match="CREATE_FAILED"):
        runner.deploy()

    # Then the second delivery finds its resource gone, and makes nothing
    [(delivery, answer)] = runner.redeliveries
    assert delivery.request["RequestType"] == "Create"
    assert answer is not None and answer["Status"] == "FAILED"
    assert "is no longer awaited" in answer["Reason"]
    assert endpoint.event_actions() == []
    assert handler_calls(endpoint, "CreateEventAction", 201) == 0


# --- 4. CloudFormation cancels a Create that still runs ----------------------------------------------------------


def test_a_delete_sent_before_the_create_made_its_event_action_leaves_nothing(
    example: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given a Create held in CreateEventAction, cancelled once it has listed the data set's event actions
    endpoint.inject("CreateEventAction", Fault("latency", seconds=3))
    runner = cloudformation(example)
    (logical_id,) = example.of_type(EVENT_ACTION_RESOURCE_TYPE)
    runner.cancel_create(logical_id, lambda: handler_calls(endpoint, "ListEventActions") > 0)

    # When CloudFormation's Delete runs while the Create goes on
    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*: Resource creation cancelled"):
        runner.deploy()

    # Then the Delete, of an id of CloudFormation's own, found nothing yet, and the Create undid what it made
    (delete,) = runner.invocations
    assert delete.request["RequestType"] == "Delete" and delete.succeeded
    assert delete.request["PhysicalResourceId"].startswith(f"{example.stack_name}-{logical_id}-")
    assert handler_calls(endpoint, "CreateEventAction", 201) == 1
    assert endpoint.event_actions() == []


@pytest.mark.every_runtime
def test_a_delete_sent_after_the_create_made_its_event_action_leaves_nothing(
    backfilling: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    # Given a Create held after it made its event action (starting the backfill), cancelled then
    aws.lambda_.inject("Invoke", Fault("latency", seconds=3))
    runner = cloudformation(backfilling)
    (logical_id,) = backfilling.of_type(EVENT_ACTION_RESOURCE_TYPE)
    runner.cancel_create(logical_id, lambda: len(endpoint.event_actions()) == 1)

    with pytest.raises(LifecycleError, match=r"CREATE_FAILED .*: Resource creation cancelled"):
        runner.deploy()

    # Then CloudFormation's Delete found the Create's event action by its owner, and deleted it
    (delete,) = [invocation for invocation in runner.invocations if invocation.request["RequestType"] == "Delete"]
    assert delete.succeeded
    assert handler_calls(endpoint, "DeleteEventAction", 204) >= 1
    assert endpoint.event_actions() == []
    aws.lambda_.wait()
    assert endpoint.event_actions() == []


# --- 5. Cleanup runs after the policy update ---------------------------------------------------------------------


def test_a_construct_removed_from_a_stack_that_keeps_others_is_deleted_after_its_key_left_the_policy(
    two_keys: tuple[SynthesizedStack, SynthesizedStack], endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    both, first_only = two_keys
    cloudformation(both).deploy()
    (second,) = [
        item for item in endpoint.event_actions() if item["Event"]["RevisionPublished"]["DataSetId"] != DATA_SET
    ]

    # When the second construct, and so its key's statement, leaves the stack: CloudFormation updates the role's
    # policy first, then deletes the second construct's resource in the cleanup phase
    runner = cloudformation(first_only)
    runner.deploy()

    # Then its Delete still could have Data Exchange revoke the grant on its key, and nothing is left behind
    assert runner.cleanup_failures == []
    (delete,) = runner.invocations
    assert (delete.request["RequestType"], delete.request["PhysicalResourceId"]) == ("Delete", second["Id"])
    assert [item["Event"]["RevisionPublished"]["DataSetId"] for item in endpoint.event_actions()] == [DATA_SET]


# --- 6. IAM changes take seconds to reach Lambda -----------------------------------------------------------------


@pytest.mark.parametrize("aws", [{"propagation_seconds": 2}], indirect=True, ids=["seen-after-2s"])
@pytest.mark.every_runtime
def test_statements_the_deploy_added_are_retried_until_iam_sees_them(
    two_keys: tuple[SynthesizedStack, SynthesizedStack],
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
) -> None:
    # Given a first deploy, whose every statement (a key's kms:CreateGrant among them) IAM denies for 2 s
    _, first_only = two_keys
    runner = cloudformation(first_only)

    runner.deploy()

    # Then the denials were retried until IAM saw the statements, and the event action exists
    calls = [call for service in aws.endpoints for call in service.calls if call.caller != "testing"]
    denied = [call for call in calls if call.status == 403]
    assert denied, "IAM denied nothing: the stand-in did not play the delay"
    assert [item["Event"]["RevisionPublished"]["DataSetId"] for item in endpoint.event_actions()] == [DATA_SET]
    assert all(invocation.succeeded for invocation in runner.invocations)


def test_iam_denies_a_statement_a_deploy_added_until_it_is_seen_and_one_it_removed_at_once(
    two_keys: tuple[SynthesizedStack, SynthesizedStack], tmp_path: Path
) -> None:
    both, first_only = two_keys
    now = [0.0]
    iam = LocalIam(propagation_seconds=5, clock=lambda: now[0])
    runtime = LambdaRuntime(Path("python"), {})
    stacks = {stack: OfflineCloudFormation(stack, tmp_path / "stack.json", runtime) for stack in two_keys}
    caller = access_key_of(stacks[both].function_arn(handler_of(both)))
    event_action = Authorization(
        "dataexchange:CreateEventAction", f"arn:aws:dataexchange:{REGION}:{ACCOUNT}:event-actions/{'a' * 32}"
    )
    (second_key,) = [key for key in both.of_type("AWS::KMS::Key") if key.startswith("SecondKey")]
    grant = Authorization(
        "kms:CreateGrant",
        stacks[both].resolve({"Fn::GetAtt": [second_key, "Arn"]}),
        {"kms:GrantIsForAWSResource": "true"},
    )

    # A statement the first deploy adds is denied until 5 s have passed
    iam.deployed(stacks[both])
    assert iam.authorizer(caller, event_action) is not None
    now[0] = 4.9
    assert iam.authorizer(caller, event_action) is not None
    now[0] = 5.0
    assert iam.authorizer(caller, event_action) is None
    assert iam.authorizer(caller, grant) is None
    # A caller that is no function of a deployed stack is not IAM's to decide here
    assert iam.authorizer("testing", grant) is None
    # The next deploy keeps the first statement, seen already, and removes the second key's, denied at once
    iam.deployed(stacks[first_only])
    assert iam.authorizer(caller, event_action) is None
    assert iam.authorizer(caller, grant) == (
        f"User: {caller} is not authorized to perform: kms:CreateGrant on resource: {grant.resource} because no "
        "identity-based policy allows the kms:CreateGrant action"
    )


# --- 7. A CreateEventAction whose answer was lost -----------------------------------------------------------------


@pytest.mark.parametrize("drop_connection", [False, True], ids=["answered-500", "connection-dropped"])
def test_a_create_event_action_whose_answer_was_lost_makes_one_event_action(
    example: SynthesizedStack, endpoint: DataExchangeEndpoint, cloudformation: Runner, drop_connection: bool
) -> None:
    # Given the service makes the event action but its answer is lost: botocore sends CreateEventAction again
    endpoint.inject("CreateEventAction", Fault("lost_answer", drop_connection=drop_connection))

    outputs = cloudformation(example).deploy()

    # Then one event action is left, and it is the one CloudFormation records
    assert handler_calls(endpoint, "CreateEventAction") == 2
    assert [item["Id"] for item in endpoint.event_actions()] == [outputs["EventActionId"]]
