"""How long a backfill takes and what it costs in AWS, from runs in virtual time: export jobs last 30 s, 2 or 10
minutes on a clock (`lambda_bootstrap.VirtualClock`) that the worker's waits move on and its Lambda context counts
down on, so a history of 10,000 revisions that takes weeks of job time runs in a minute or two.

The worker runs in this process, one `Backfill` per invocation of 15 minutes (the template's timeout), against the
local Data Exchange over HTTP; its hand-overs go through the local Lambda's Invoke (the function allows recursion, as
the template says) and its end event through the local EventBridge. Hand-overs take no time on the clock (in AWS, an
asynchronous invocation starts within a second or so, and its cold start bills about a second: a few parts in ten
thousand of the 15 minutes here)."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdk_dataexchange_auto_export.local.assembly import LambdaFunction
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, local_client
from cdk_dataexchange_auto_export.local.endpoints.server import client
from cdk_dataexchange_auto_export.local.lambda_bootstrap import VirtualClock
from cdk_dataexchange_auto_export.local.lambda_runtime import Execution, LambdaRuntime
from dataexchange_auto_export_handler import backfill
from dataexchange_auto_export_handler.backfill_chain import Cursor
from dataexchange_auto_export_handler.clients import RETRY_CONFIG, Clients
from dataexchange_auto_export_handler.contract import BACKFILL_FUNCTION_VARIABLE, EVENT_SOURCE

from . import BenchmarkError, prices

WORKER = "arn:aws:lambda:us-east-1:123456789012:function:backfill-worker"
DATA_SET_ID = "0123456789abcdefABCDEF0123456789"
TIMEOUT_SECONDS = 900  # the template's
# Revisions, and seconds per export job: 30 s, 2 and 10 minutes, the range a revision of a few files to one of
# large files takes.
RUNS = tuple((revisions, seconds) for revisions in (1_000, 10_000) for seconds in (30, 120, 600))
QUICK_RUNS = ((1_000, 30), (1_000, 600))


@dataclass(frozen=True)
class ChainResults:
    revisions: int
    job_seconds: int
    memory_mb: int
    invocations: int
    seconds: float  # on the clock, from the start to the end event
    billed_seconds: float  # on the clock, the invocations' durations added up
    calls: Mapping[str, int]  # the worker's Data Exchange calls by operation
    events: int  # events the backfill put on the bus
    outcome: str
    exported: int
    real_seconds: float

    @property
    def floor_seconds(self) -> float:
        """The time the jobs take with MAX_IN_FLIGHT of them running all the time."""
        return self.revisions * self.job_seconds / backfill.MAX_IN_FLIGHT

    @property
    def over_floor(self) -> float:
        return self.seconds / self.floor_seconds - 1

    @property
    def calls_per_revision(self) -> float:
        return sum(self.calls.values()) / self.revisions

    @property
    def gb_seconds(self) -> float:
        return self.billed_seconds * self.memory_mb / 1024

    @property
    def cost(self) -> float:
        """In USD, at `prices`: the worker's requests and duration, and the end event."""
        lambda_cost = self.invocations * prices.LAMBDA_PER_REQUEST + self.gb_seconds * prices.LAMBDA_ARM_PER_GB_SECOND
        return lambda_cost + self.events * prices.EVENTBRIDGE_PER_EVENT


class _Queued(LambdaRuntime):
    """Lambda's side of the hand-overs: each invocation's event, kept for the benchmark to run in this process."""

    def __init__(self) -> None:
        super().__init__(Path(sys.executable), {})
        self.events: list[dict[str, Any]] = []

    def invoke(
        self,
        function: LambdaFunction,
        function_arn: str,
        event: Mapping[str, Any],
        environment: Mapping[str, str] | None = None,
    ) -> Execution:
        self.events.append(dict(event))
        return Execution("", {}, 0.0)


class _Context:
    """The worker's Lambda context: its timeout, counted down on the clock."""

    invoked_function_arn = WORKER

    def __init__(self, clock: VirtualClock) -> None:
        self.clock, self.deadline = clock, clock.now() + TIMEOUT_SECONDS

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now()) * 1000))


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def run_chain(revisions: int, job_seconds: int, memory_mb: int, workdir: Path) -> ChainResults:
    """One backfill of `revisions` revisions whose export jobs take `job_seconds`, to its end event."""
    clock = VirtualClock(str(workdir / f"clock-{revisions}-{job_seconds}"))
    endpoint = DataExchangeEndpoint(job_seconds=job_seconds, clock=clock.now)
    for number in range(revisions):
        endpoint.add_revision(DATA_SET_ID, [f"prices/{number:05d}.csv"])
    runtime = _Queued()
    function = LambdaFunction(
        "Worker", Path("."), "worker.handler", TIMEOUT_SECONDS, memory_mb, {}, recursive_loop="Allow"
    )
    real = time.perf_counter()
    with OfflineAws(dataexchange=endpoint, clock=clock) as aws, _environment(BACKFILL_FUNCTION_VARIABLE, WORKER):
        aws.lambda_.serve(lambda name: (function, WORKER) if name == WORKER else None, runtime)
        dataexchange = local_client(endpoint.url, config=RETRY_CONFIG)
        created = dataexchange.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "destination-bucket"}}},
            Event={"RevisionPublished": {"DataSetId": DATA_SET_ID}},
        )
        clients = Clients(dataexchange, client("lambda", aws.lambda_.url), client("events", aws.eventbridge.url))
        before, started = len(endpoint.calls), clock.now()
        backfill.start(clients, Cursor(DATA_SET_ID, created["Arn"]))
        billed, outcome = 0.0, "handed over"
        while outcome == "handed over":
            aws.lambda_.wait()
            invoked = clock.now()
            cursor = Cursor.from_payload(runtime.events[-1])
            outcome = backfill.Backfill(clients, cursor, _Context(clock), clock.advance, clock.now).run()
            billed += clock.now() - invoked
        events = [event for event in aws.bus.events if event["source"] == EVENT_SOURCE]
        calls = Counter(call.operation for call in endpoint.calls[before:])
    if outcome != "completed" or len(events) != 1:
        raise BenchmarkError(f"the backfill of {revisions} revisions at {job_seconds} s per job ended {outcome}")
    return ChainResults(
        revisions=revisions,
        job_seconds=job_seconds,
        memory_mb=memory_mb,
        invocations=len(runtime.events),
        seconds=clock.now() - started,
        billed_seconds=billed,
        calls=dict(calls.most_common()),
        events=len(events),
        outcome=events[0]["detail-type"],
        exported=int(events[0]["detail"]["Exported"]),
        real_seconds=time.perf_counter() - real,
    )


def run_time_benchmark(
    runs: tuple[tuple[int, int], ...], memory_mb: int, workdir: Path, progress: Callable[[str], None]
) -> list[ChainResults]:
    results = []
    for revisions, job_seconds in runs:
        progress(f"backfill in virtual time: {revisions:,} revisions, {job_seconds} s per job")
        results.append(run_chain(revisions, job_seconds, memory_mb, workdir))
    return results
