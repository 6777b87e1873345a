"""Existing revisions exported through the whole lifecycle, offline: the custom resource starts the worker with
Lambda's asynchronous invoke, the worker runs from the same staged asset in the Lambda-like runtime (and hands
over to itself), and every call of both functions is checked against their roles."""

from __future__ import annotations

import time
from collections.abc import Callable

import aws_cdk as cdk
import pytest
from support import ALERT_EMAIL, DATA_SET, Runner, synthesize_example, synthesize_keyed, synthesized

from cdk_dataexchange_auto_export import AutoExportEventAction, ExistingRevisions
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.cloudformation import LifecycleError
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint
from cdk_dataexchange_auto_export.local.iam import PermissionAudit

# Export jobs run until the test lets them end (`endpoint.job_ticks = 1`): what the worker has done by then is
# decided by the test, not by how fast two processes race.
HELD = [{"job_ticks": None}]


def eventually(condition: Callable[[], object], what: str, seconds: float = 60) -> None:
    """Waits for another process to get somewhere (not for time to pass: the deadline only stops a hang)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def running(endpoint: DataExchangeEndpoint) -> int:
    return sum(1 for job in endpoint.jobs() if job["State"] == "IN_PROGRESS")


def published(endpoint: DataExchangeEndpoint, count: int) -> list[str]:
    return [endpoint.add_revision(DATA_SET, [f"prices/{n}.csv"])["Id"] for n in range(count)]


def backfill_events(aws: OfflineAws) -> list[dict[str, object]]:
    return [event for event in aws.bus.events if event["source"] == "cdk-dataexchange-auto-export"]


@pytest.fixture(scope="module")
def backfilling(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """The example app exporting every existing revision."""
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET, export_existing=ExistingRevisions.ALL)


@pytest.fixture(scope="module")
def latest(new_cdk_app: Callable[..., cdk.App]) -> dict[int, SynthesizedStack]:
    """The example app exporting the newest 1, 3 and 2 existing revisions."""
    return {
        count: synthesize_example(new_cdk_app, data_set_id=DATA_SET, export_existing=ExistingRevisions.latest(count))
        for count in (1, 3, 2)
    }


@pytest.fixture(scope="module")
def count_from_a_parameter(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """ExistingRevisions.latest of a CfnParameter: a token at synth time, so only the deploy can check it."""
    stack = cdk.Stack(new_cdk_app(), "Parameter")
    count = cdk.CfnParameter(stack, "Count", type="Number").value_as_number
    AutoExportEventAction(
        stack,
        "Export",
        data_set_id=DATA_SET,
        bucket=cdk.aws_s3.Bucket(stack, "Bucket"),
        export_existing_revisions=ExistingRevisions.latest(count),
    )
    return synthesized(stack)


@pytest.fixture(scope="module")
def keyed(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """A KMS key and a ${DataSet.Name} pattern, exporting every existing revision."""
    return synthesize_keyed(
        new_cdk_app, "${DataSet.Name}/${Revision.Id}/${Asset.Name}", export_existing_revisions=ExistingRevisions.ALL
    )


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_create_answers_before_the_backfill_ends_and_the_backfill_exports_everything(
    backfilling: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    revisions = published(endpoint, 3)
    runner = cloudformation(backfilling)

    # When the stack is created while no export job can end
    runner.deploy()

    # Then the custom resource has answered, and the backfill, not ended, ends once the jobs may
    [create] = runner.invocations
    assert create.succeeded and backfill_events(aws) == []
    endpoint.job_ticks = 1
    [invocation] = aws.lambda_.wait()
    assert invocation.execution is not None and "Backfill Completed" in invocation.execution.output
    [event] = backfill_events(aws)
    assert (event["detail-type"], event["detail"]["Exported"]) == ("Backfill Completed", 3)  # type: ignore[index]
    exported = {
        job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"] for job in endpoint.jobs()
    }
    assert exported == set(revisions)


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_delete_during_a_backfill_stops_it(
    backfilling: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    first, second, *_ = published(endpoint, 6)
    # Given the worker running its first two jobs
    runner = cloudformation(backfilling)
    runner.deploy()
    eventually(lambda: running(endpoint) == 2, "the worker runs two jobs")

    # When the stack is deleted, and the jobs end
    runner.destroy()
    endpoint.job_ticks = 1

    # Then the worker starts no third job: it stops without an end event
    [invocation] = aws.lambda_.wait()
    assert invocation.execution is not None
    assert "Stopped: event action" in invocation.execution.output
    assert backfill_events(aws) == []
    exported = [job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0] for job in endpoint.jobs()]
    assert sorted(destination["RevisionId"] for destination in exported) == sorted([first, second])


@pytest.fixture(scope="module")
def retained(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """An event action the stack keeps when it is deleted (RemovalPolicy.RETAIN), exporting every existing revision."""
    stack = cdk.Stack(new_cdk_app(), "Retained")
    AutoExportEventAction(
        stack,
        "Export",
        data_set_id=DATA_SET,
        bucket=cdk.aws_s3.Bucket(stack, "Bucket"),
        removal_policy=cdk.RemovalPolicy.RETAIN,
        export_existing_revisions=ExistingRevisions.ALL,
    )
    return synthesized(stack)


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_backfill_ends_with_its_stack_though_the_event_action_is_retained(
    retained: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    first, second, *_ = published(endpoint, 6)
    runner = cloudformation(retained)
    runner.deploy()
    eventually(lambda: running(endpoint) == 2, "the worker runs two jobs")

    # When the stack is deleted, keeping its event action, and the jobs end
    runner.destroy()
    endpoint.job_ticks = 1

    # Then the worker starts no third job: it stops with its stack, without an end event
    [invocation] = aws.lambda_.wait()
    assert invocation.execution is not None
    assert "Stopped: its stack" in invocation.execution.output
    assert (backfill_events(aws), len(endpoint.event_actions())) == ([], 1)
    exported = [job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0] for job in endpoint.jobs()]
    assert sorted(destination["RevisionId"] for destination in exported) == sorted([first, second])


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_backfill_ends_as_soon_as_its_stack_is_being_deleted(
    retained: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    first, second, *_ = published(endpoint, 6)
    runner = cloudformation(retained)
    runner.deploy()
    eventually(lambda: running(endpoint) == 2, "the worker runs two jobs")

    # When the stack's delete is under way (CloudFormation still at its other resources), and the jobs end
    state = runner.state()
    state.status = "DELETE_IN_PROGRESS"
    state.save(runner.state_file)
    endpoint.job_ticks = 1

    # Then the worker starts no third job: it stops with its stack, not once the delete is complete
    [invocation] = aws.lambda_.wait()
    assert invocation.execution is not None
    assert "Stopped: its stack" in invocation.execution.output
    assert "is DELETE_IN_PROGRESS" in invocation.execution.output
    assert backfill_events(aws) == []
    exported = [job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0] for job in endpoint.jobs()]
    assert sorted(destination["RevisionId"] for destination in exported) == sorted([first, second])


def test_an_update_that_widens_the_backfill_exports_the_rest_and_one_that_does_not_starts_nothing(
    latest: dict[int, SynthesizedStack], aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    revisions = published(endpoint, 4)
    cloudformation(latest[1]).deploy()
    aws.lambda_.wait()

    cloudformation(latest[3]).deploy()
    aws.lambda_.wait()
    cloudformation(latest[2]).deploy()
    invocations = aws.lambda_.wait()

    exported = [
        job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"] for job in endpoint.jobs()
    ]
    assert sorted(exported) == sorted(revisions[1:])  # the newest, then the two before it; nothing twice
    assert [event["detail"]["Exported"] for event in backfill_events(aws)] == [1, 2]  # type: ignore[index]
    assert len(invocations) == 2  # narrowing to 2 started no third backfill


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
@pytest.mark.every_runtime
def test_a_whole_backfill_uses_every_grant_of_the_workers_role(
    keyed: SynthesizedStack,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
    permission_audit: PermissionAudit,
) -> None:
    """With a KMS key and a ${DataSet.Name} pattern, over several invocations: a grant nothing uses is one
    to remove, and a call no grant allows fails the test (in the runner fixture)."""
    published(endpoint, 4)
    # Given a worker with 4 s to live, and jobs that do not end before it has handed over to itself
    (worker,) = [name for name in keyed.of_type("AWS::Lambda::Function") if "Worker" in name]
    runner = cloudformation(keyed, timeouts={worker: 4})

    runner.deploy()
    eventually(lambda: aws.lambda_.invocations, "the first invocation has handed over")
    endpoint.job_ticks = 1
    invocations = aws.lambda_.wait()
    runner.destroy()

    assert len(invocations) > 1, "the worker handed over"
    assert [event["detail"]["Exported"] for event in backfill_events(aws)] == [4]  # type: ignore[index]
    assert permission_audit.unused("AutoExportBackfillWorkerRole") == []
    # And the custom resource's role used its one grant for backfills: starting the worker
    provider = {
        grant.action for grant in permission_audit.used if grant.role.startswith("AutoExportEventActionProvider")
    }
    assert "lambda:InvokeFunction" in provider


@pytest.mark.parametrize("count", ["0", "20000"])
def test_a_count_from_a_parameter_out_of_range_fails_the_create_naming_it(
    count_from_a_parameter: SynthesizedStack,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    cloudformation: Runner,
    count: str,
) -> None:
    runner = cloudformation(count_from_a_parameter, Count=count)

    with pytest.raises(
        LifecycleError,
        match=rf"CREATE_FAILED .*: ExportExistingRevisions '{count}' must be ALL or a number of revisions "
        r"from 1 to 10000",
    ):
        runner.deploy()

    assert endpoint.calls == []
    assert aws.lambda_.wait() == []


@pytest.fixture(scope="module")
def alerting(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """The example app as `make demo` deploys it: exporting every existing revision, alerting on failures."""
    return synthesize_example(
        new_cdk_app, data_set_id=DATA_SET, export_existing=ExistingRevisions.ALL, alert_email=ALERT_EMAIL
    )


def test_a_worker_killed_on_every_attempt_reaches_the_alert_as_backfill_failed(
    alerting: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner
) -> None:
    published(endpoint, 2)
    # Given a worker that runs out of memory on its first invocation and Lambda's two retries of it
    (worker,) = [name for name in alerting.of_type("AWS::Lambda::Function") if "Worker" in name]
    aws.lambda_.crash_next(worker, 3)

    cloudformation(alerting).deploy()
    invocations = aws.lambda_.wait()

    # Then the failure record went to the bus, back to the worker, and out as Backfill Failed
    assert [invocation.error for invocation in invocations[:3]] == ["Runtime exited with error: signal: killed"] * 3
    [event] = backfill_events(aws)
    assert event["detail-type"] == "Backfill Failed"
    reason = str(event["detail"]["Reason"])  # type: ignore[index]
    assert reason.startswith("Invocation 1 of the backfill failed 3 time(s) (RetriesExhausted): Runtime.ExitError")
    # ...which the stack's failure rule sends its alert topic, with the reason in the message
    [rule] = aws.bus.matches[str(event["id"])]
    assert rule.startswith("AutoExportFailedExports")
    [delivery] = [delivery for delivery in aws.bus.deliveries if delivery.event_id == event["id"]]
    assert f"Backfill Failed at {event['time']}: data set {DATA_SET}" in delivery.message
    assert reason in delivery.message
