"""Existing revisions exported through the whole lifecycle, offline: the custom resource starts the worker with
Lambda's asynchronous invoke, the worker runs from the same staged asset in the Lambda-like runtime (and hands
over to itself), and every call of both functions is checked against their roles."""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
import pytest
from support import DATA_SET, Runner, synthesize_example, synthesize_keyed

from cdk_dataexchange_auto_export import ExistingRevisions
from offline.assembly import SynthesizedStack
from offline.aws import OfflineAws
from offline.endpoints import Fault, LocalDataExchange
from offline.iam import PermissionAudit


def published(endpoint: LocalDataExchange, count: int) -> list[str]:
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
def keyed(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    """A KMS key and a ${DataSet.Name} pattern, exporting every existing revision."""
    return synthesize_keyed(
        new_cdk_app, "${DataSet.Name}/${Revision.Id}/${Asset.Name}", export_existing_revisions=ExistingRevisions.ALL
    )


def test_create_answers_before_the_backfill_ends_and_the_backfill_exports_everything(
    backfilling: SynthesizedStack, aws: OfflineAws, endpoint: LocalDataExchange, cloudformation: Runner
) -> None:
    revisions = published(endpoint, 3)
    # Given a slow listing: the worker is still at it when the custom resource has answered
    endpoint.inject("ListDataSetRevisions", Fault("latency", seconds=1.5))
    runner = cloudformation(backfilling)

    runner.deploy()

    [create] = runner.invocations
    assert create.succeeded and backfill_events(aws) == []
    [invocation] = aws.lambda_.wait()
    assert invocation.execution is not None and "Backfill Completed" in invocation.execution.output
    [event] = backfill_events(aws)
    assert (event["detail-type"], event["detail"]["Exported"]) == ("Backfill Completed", 3)  # type: ignore[index]
    exported = {
        job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"] for job in endpoint.jobs()
    }
    assert exported == set(revisions)


def test_delete_during_a_backfill_stops_it(
    backfilling: SynthesizedStack, aws: OfflineAws, endpoint: LocalDataExchange, cloudformation: Runner
) -> None:
    published(endpoint, 6)
    # Given slow job creation: the stack is gone before the worker is halfway
    endpoint.inject("CreateJob", Fault("latency", count=6, seconds=0.7))
    runner = cloudformation(backfilling)
    runner.deploy()

    runner.destroy()

    invocations = aws.lambda_.wait()
    assert invocations[-1].execution is not None
    assert "Stopped: event action" in invocations[-1].execution.output
    assert backfill_events(aws) == []
    assert len(endpoint.jobs()) < 6


def test_an_update_that_widens_the_backfill_exports_the_rest_and_one_that_does_not_starts_nothing(
    latest: dict[int, SynthesizedStack], aws: OfflineAws, endpoint: LocalDataExchange, cloudformation: Runner
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


def test_a_whole_backfill_uses_every_grant_of_the_workers_role(
    keyed: SynthesizedStack,
    aws: OfflineAws,
    endpoint: LocalDataExchange,
    cloudformation: Runner,
    permission_audit: PermissionAudit,
) -> None:
    """With a KMS key and a ${DataSet.Name} pattern, over several invocations: a grant nothing uses is one
    to remove, and a call no grant allows fails the test (in the runner fixture)."""
    published(endpoint, 4)
    # Given a worker with 4 s to live and slow job reads: it hands over to itself on the way
    endpoint.inject("GetJob", Fault("latency", count=8, seconds=0.4))
    (worker,) = [name for name in keyed.of_type("AWS::Lambda::Function") if "Worker" in name]
    runner = cloudformation(keyed, timeouts={worker: 4})

    runner.deploy()
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
