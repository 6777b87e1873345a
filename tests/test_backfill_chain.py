"""A long backfill through the whole lifecycle, offline, in virtual time: the custom resource starts the worker,
which hands over to itself through Lambda's Invoke, whose stand-in plays recursive loop detection; export jobs
take as long as they do in AWS on a clock the worker's sleeps move on (`lambda_bootstrap.VirtualClock`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import aws_cdk as cdk
import pytest
from support import DATA_SET, Runner, synthesize_example

from cdk_dataexchange_auto_export import ExistingRevisions
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint
from cdk_dataexchange_auto_export.local.lambda_bootstrap import VirtualClock
from cdk_dataexchange_auto_export.local.lambda_service import RECURSION_LIMIT
from dataexchange_auto_export_handler.contract import EVENT_SOURCE
from tools.toolchain import LAMBDA_VENVS

# Fifteen minutes per export job, two at a time: each invocation of the worker (15 minutes, of which it hands
# over with 2 left) sees about two jobs end, so 32 revisions take some 19 invocations.
JOB_SECONDS = 900
REVISIONS = 32


@pytest.fixture(scope="module")
def lambda_python() -> Path:
    """One Lambda-like runtime: what is tested here is the chain, not the runtime's boto3."""
    return next(iter(LAMBDA_VENVS.values()))[0] / "bin" / "python"


@pytest.fixture
def clock(tmp_path: Path) -> VirtualClock:
    return VirtualClock(str(tmp_path / "clock"))


@pytest.fixture
def endpoint(clock: VirtualClock) -> Iterator[DataExchangeEndpoint]:
    with DataExchangeEndpoint(job_seconds=JOB_SECONDS, clock=clock.now) as local:
        yield local


@pytest.fixture
def aws(endpoint: DataExchangeEndpoint, clock: VirtualClock) -> Iterator[OfflineAws]:
    with OfflineAws(dataexchange=endpoint, clock=clock) as services:
        yield services


@pytest.fixture(scope="module")
def backfilling(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET, export_existing=ExistingRevisions.ALL)


@pytest.mark.every_runtime
def test_a_backfill_longer_than_sixteen_invocations_completes(
    backfilling: SynthesizedStack,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    clock: VirtualClock,
    cloudformation: Runner,
) -> None:
    revisions = {endpoint.add_revision(DATA_SET, [f"prices/{n}.csv"])["Id"] for n in range(REVISIONS)}
    started = clock.now()

    cloudformation(backfilling).deploy()
    invocations = aws.lambda_.wait()

    # Then every revision was exported by a chain that went on past Lambda's limit
    [event] = [event for event in aws.bus.events if event["source"] == EVENT_SOURCE]
    assert (event["detail-type"], event["detail"]["Exported"], event["detail"].get("Reason")) == (
        "Backfill Completed",
        REVISIONS,
        None,
    )
    worker = [invocation for invocation in invocations if "invocation" in invocation.payload]
    assert max(invocation.chain_count for invocation in worker) > RECURSION_LIMIT
    assert [invocation.error for invocation in worker if invocation.error] == []
    exported = {
        job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"] for job in endpoint.jobs()
    }
    assert exported == revisions
    # In about the time two jobs at a time take, which a clock of its own lets pass in seconds
    hours = (clock.now() - started) / 3600
    assert REVISIONS * JOB_SECONDS / 2 / 3600 < hours < 1.1 * REVISIONS * JOB_SECONDS / 2 / 3600
