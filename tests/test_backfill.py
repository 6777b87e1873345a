"""The backfill worker's functions, with real boto3 clients over HTTP to the offline Data Exchange, Lambda and
EventBridge. Time is a virtual clock that the worker's sleeps move on, and the context counts down on; export jobs
last a number of requests (the endpoint's ticks), seconds on that clock (`job_seconds`), or until the test ends
them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cdk_dataexchange_auto_export.local.assembly import LambdaFunction
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault, local_client
from cdk_dataexchange_auto_export.local.endpoints.server import DROPPED, client
from cdk_dataexchange_auto_export.local.lambda_bootstrap import VirtualClock
from cdk_dataexchange_auto_export.local.lambda_runtime import Execution, LambdaRuntime
from cdk_dataexchange_auto_export.local.lambda_service import failure_record
from dataexchange_auto_export_handler import backfill
from dataexchange_auto_export_handler.backfill import (
    AHEAD,
    ATTEMPTS_PER_REVISION,
    LISTED_FAILURES,
    PAGE,
    Backfill,
    Claim,
    Cursor,
    exported_before,
    report_failed_invocation,
    revisions_in_scope,
)
from dataexchange_auto_export_handler.clients import RETRY_CONFIG, Clients
from dataexchange_auto_export_handler.contract import BACKFILL_TAG
from dataexchange_auto_export_handler.export_settings import ExportSettings

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
WORKER = "arn:aws:lambda:us-east-1:123456789012:function:backfill-worker"
BUCKET = "destination-bucket"


class HandOvers(LambdaRuntime):
    """Lambda's side of the worker invoking itself: the payloads, kept for the test to run next."""

    def __init__(self, aws: OfflineAws) -> None:
        super().__init__(Path(sys.executable), {})
        self._aws = aws
        self._received: list[dict[str, Any]] = []

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """Every hand-over so far: Lambda queues each and runs it on a thread of its own, so this waits
        for the queue first."""
        self._aws.lambda_.wait()
        return list(self._received)

    def invoke(
        self,
        function: LambdaFunction,
        function_arn: str,
        event: Mapping[str, Any],
        environment: Mapping[str, str] | None = None,
    ) -> Execution:
        self._received.append(dict(event))
        return Execution("", {}, 0.0)


class Context:
    """A Lambda context with `remaining_ms` on the test's clock, or 15 minutes that never run out (where jobs end
    by requests, not time), and none left once `out_of_time()` says so."""

    invoked_function_arn = WORKER

    def __init__(
        self, clock: VirtualClock, remaining_ms: int | None = None, out_of_time: Callable[[], bool] = lambda: False
    ) -> None:
        self.clock, self.remaining_ms, self.out_of_time = clock, remaining_ms, out_of_time
        self.deadline = clock.now() + (remaining_ms or 0) / 1000

    def get_remaining_time_in_millis(self) -> int:
        if self.out_of_time():
            return 0
        if self.remaining_ms is None:
            return 900_000
        return max(0, int((self.deadline - self.clock.now()) * 1000))


class WorkerClients(Clients):
    """The worker's clients, and the clock its invocations run on."""

    def __init__(self, clock: VirtualClock, *clients: Any) -> None:
        super().__init__(*clients)
        self.clock = clock


@pytest.fixture
def clock(tmp_path: Path) -> VirtualClock:
    return VirtualClock(str(tmp_path / "clock"))


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, clock: VirtualClock) -> Iterator[DataExchangeEndpoint]:
    """The local Data Exchange, its jobs timed on the test's clock when they last `job_seconds`."""
    with DataExchangeEndpoint(clock=clock.now, **getattr(request, "param", {})) as local:
        yield local


@pytest.fixture
def hand_overs(aws: OfflineAws) -> HandOvers:
    runtime = HandOvers(aws)
    function = LambdaFunction("Worker", Path("."), "worker.handler", 900, 256, {})
    aws.lambda_.serve(lambda name: (function, WORKER) if name == WORKER else None, runtime)
    return runtime


@pytest.fixture
def clients(aws: OfflineAws, hand_overs: HandOvers, clock: VirtualClock) -> WorkerClients:
    return WorkerClients(
        clock,
        local_client(aws.dataexchange.url, config=RETRY_CONFIG),
        client("lambda", aws.lambda_.url),
        client("events", aws.eventbridge.url),
    )


def event_action(endpoint: DataExchangeEndpoint, **destination: str) -> str:
    """The event action the backfill serves, made after the revisions the tests publish before it."""
    created = local_client(endpoint.url).create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": BUCKET, **destination}}},
        Event={"RevisionPublished": {"DataSetId": DATA_SET}},
    )
    return created["Arn"]


def published(endpoint: DataExchangeEndpoint, count: int, **state: bool) -> list[str]:
    return [endpoint.add_revision(DATA_SET, [f"file-{n}.csv"], **state)["Id"] for n in range(count)]


def run(
    clients: WorkerClients,
    cursor: Cursor,
    context: Context | None = None,
    wait: Callable[[], object] = int,
    waits: list[float] | None = None,
) -> str:
    """One invocation. Each of its waits moves the test's clock on, then calls `wait` (with an endpoint whose
    jobs are held, `endpoint.end_jobs`: every running job ends while the worker waits); how long each was is
    added to `waits`."""

    def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)
        clients.clock.advance(seconds)
        wait()

    clock = clients.clock
    return Backfill(clients, cursor, context or Context(clock), sleep=sleep, clock=clock.now).run()


def exports(endpoint: DataExchangeEndpoint) -> list[tuple[str, str]]:
    """(revision, state) of every export job the backfill made, in the order it made them."""
    made = [job for job in endpoint.jobs() if "EventActionArn" not in job["Details"]["ExportRevisionsToS3"]]
    made.sort(key=lambda job: job["CreatedAt"])
    return [
        (job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"], job["State"]) for job in made
    ]


def end_event(aws: OfflineAws) -> dict[str, Any]:
    """The backfill's one end event (Data Exchange's own auto-export events go on the same bus)."""
    [event] = [event for event in aws.bus.events if event["source"] == "cdk-dataexchange-auto-export"]
    return event


def test_all_exports_each_finalized_unrevoked_revision_once_oldest_first(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    first, second = published(endpoint, 2)
    published(endpoint, 1, revoked=True)
    published(endpoint, 1, finalized=False)
    third = published(endpoint, 1)[0]
    arn = event_action(endpoint, KeyPattern="${Revision.Id}/${Asset.Name}")

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    assert exports(endpoint) == [(first, "COMPLETED"), (second, "COMPLETED"), (third, "COMPLETED")]
    [job] = [
        job
        for job in endpoint.jobs()
        if job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"] == first
    ]
    assert (
        job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["KeyPattern"] == "${Revision.Id}/${Asset.Name}"
    )
    event = end_event(aws)
    assert event["detail-type"] == "Backfill Completed"
    assert {key: event["detail"][key] for key in ("DataSetId", "EventActionArn", "Exported", "Skipped", "Failed")} == {
        "DataSetId": DATA_SET,
        "EventActionArn": arn,
        "Exported": 3,
        "Skipped": 0,
        "Failed": 0,
    }


def test_latest_n_exports_only_the_newest_n_with_the_event_actions_default_pattern(
    clients: WorkerClients, endpoint: DataExchangeEndpoint
) -> None:
    revisions = published(endpoint, 5)
    arn = event_action(endpoint)

    run(clients, Cursor(DATA_SET, arn, latest=2))

    assert exports(endpoint) == [(revisions[3], "COMPLETED"), (revisions[4], "COMPLETED")]
    pattern = endpoint.jobs()[0]["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["KeyPattern"]
    assert pattern == "${Revision.CreatedAt}/${Asset.Name}"  # passed on: a manual job's default differs


def test_revisions_published_after_the_event_action_are_its_own(
    clients: WorkerClients, endpoint: DataExchangeEndpoint
) -> None:
    before = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.publish(DATA_SET, ["new.csv"])  # auto-exported by the event action

    run(clients, Cursor(DATA_SET, arn))

    assert exports(endpoint) == [(before[0], "COMPLETED")]


def test_with_nothing_published_before_the_event_action_the_backfill_completes_with_nothing_exported(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    arn = event_action(endpoint)
    endpoint.publish(DATA_SET, ["new.csv"])

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    assert exports(endpoint) == []
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Skipped"], detail["Failed"]) == (0, 0, 0)


def test_a_revision_already_exported_to_the_destination_is_skipped_and_a_second_run_exports_nothing(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    exported, elsewhere, fresh = published(endpoint, 3)
    arn = event_action(endpoint)
    # Given earlier exports: one to this bucket and pattern, one to another bucket
    dataexchange = local_client(endpoint.url)
    for revision, bucket in ((exported, BUCKET), (elsewhere, "other-bucket")):
        destination = {"Bucket": bucket, "KeyPattern": "${Revision.CreatedAt}/${Asset.Name}", "RevisionId": revision}
        job = dataexchange.create_job(
            Type="EXPORT_REVISIONS_TO_S3",
            Details={"ExportRevisionsToS3": {"DataSetId": DATA_SET, "RevisionDestinations": [destination]}},
        )
        dataexchange.start_job(JobId=job["Id"])

    run(clients, Cursor(DATA_SET, arn))
    again = Cursor(DATA_SET, arn)
    run(clients, again)

    ours = [revision for revision, _ in exports(endpoint)[2:]]
    assert ours == [elsewhere, fresh]
    assert (again.exported, again.skipped) == (0, 3)
    assert [event["detail"]["Skipped"] for event in aws.bus.events] == [1, 3]


@pytest.mark.parametrize("endpoint", [{"job_ticks": 40}], indirect=True)
def test_at_most_two_jobs_run_and_a_full_quota_is_waited_out(
    clients: WorkerClients, endpoint: DataExchangeEndpoint
) -> None:
    # Given five long export jobs of someone else running: the account's quota is full
    dataexchange = local_client(endpoint.url)
    others = published(endpoint, 5)
    mine = published(endpoint, 2)
    arn = event_action(endpoint)
    for revision in others:
        destination = {"Bucket": "someone-else", "RevisionId": revision}
        job = dataexchange.create_job(
            Type="EXPORT_REVISIONS_TO_S3",
            Details={"ExportRevisionsToS3": {"DataSetId": DATA_SET, "RevisionDestinations": [destination]}},
        )
        dataexchange.start_job(JobId=job["Id"])

    cursor = Cursor(DATA_SET, arn)
    assert run(clients, cursor) == "completed"

    # Their revisions are not exported to this bucket yet, so the backfill exports them too
    assert [revision for revision, _ in exports(endpoint)[5:]] == others + mine
    refused = [call for call in endpoint.calls if call.operation == "StartJob" and call.status == 402]
    assert refused, "the worker met the full quota"
    ran = [
        job
        for job in endpoint.jobs()
        if job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["Bucket"] == BUCKET
    ]
    ticks = sorted(tick for job in ran for tick in range(job["StartedTick"], job["EndedTick"]))
    assert max(ticks.count(tick) for tick in set(ticks)) == 2


def test_a_failed_job_is_reported_with_its_code_and_the_rest_exported(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    ok, broken = published(endpoint, 2)
    arn = event_action(endpoint)
    endpoint.fail_next_export(broken, "MalwareDetected")

    assert run(clients, Cursor(DATA_SET, arn)) == "failed"

    assert exports(endpoint) == [(ok, "COMPLETED"), (broken, "ERROR")]
    event = end_event(aws)
    assert event["detail-type"] == "Backfill Failed"
    assert (event["detail"]["Exported"], event["detail"]["Failed"]) == (1, 1)
    assert event["detail"]["Failures"] == [
        {
            "RevisionId": broken,
            "Errors": [{"Code": "MALWARE_DETECTED", "Message": "Malware was detected in an asset of the revision"}],
        }
    ]
    # As Data Exchange's own events have them, for the same rules and message
    assert (event["detail"]["DataSetIds"], event["detail"]["RevisionIds"]) == ([DATA_SET], [broken])


def test_a_job_ended_by_the_quota_is_tried_again(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.fail_next_export(revision, "QuotaExceeded")

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    assert exports(endpoint) == [(revision, "ERROR"), (revision, "COMPLETED")]
    assert end_event(aws)["detail"]["Exported"] == 1


@pytest.mark.parametrize("endpoint", [{}, {"page_limit": 2}], indirect=True, ids=["pages-of-200", "short-pages"])
def test_hand_overs_carry_a_small_cursor_and_export_nothing_twice(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    revisions = published(endpoint, 12)
    arn = event_action(endpoint)
    payload: dict[str, Any] = Cursor(DATA_SET, arn).to_payload()
    outcomes = []

    # When each invocation has time for a few poll rounds only
    while True:
        outcomes.append(run(clients, Cursor.from_payload(payload), Context(clients.clock, remaining_ms=40_000)))
        if outcomes[-1] != "handed over":
            break
        payload = hand_overs.payloads[-1]
        # The revisions it carries from the listing are a page's worth at most, the rest a few fields
        assert len(payload["ahead"]) <= AHEAD and len(json.dumps({**payload, "ahead": []})) < 1536

    assert len(outcomes) > 2 and outcomes[-1] == "completed"
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions]
    assert end_event(aws)["detail"]["Exported"] == 12


def test_the_worker_stops_when_the_event_action_is_gone(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    published(endpoint, 3)
    arn = event_action(endpoint)
    local_client(endpoint.url).delete_event_action(EventActionId=arn.rsplit("/", 1)[1])

    assert run(clients, Cursor(DATA_SET, arn)) == "stopped"

    assert exports(endpoint) == []
    assert aws.bus.events == []


# --- a service under load: lost answers, conflicts, jobs ending together (the test's clock) -------------

HELD = [{"job_ticks": None}]


def statuses(endpoint: DataExchangeEndpoint, operation: str) -> list[int]:
    return [call.status for call in endpoint.calls if call.operation == operation]


def jobs_created(endpoint: DataExchangeEndpoint) -> int:
    return len(statuses(endpoint, "CreateJob"))


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
@pytest.mark.parametrize(
    ("lost", "first_status"),
    [(Fault("lost_answer"), 500), (Fault("lost_answer", drop_connection=True), DROPPED.status)],
    ids=["answered-500", "connection-dropped"],
)
@pytest.mark.usefixtures("no_retry_sleep")
def test_a_job_started_by_an_attempt_whose_answer_was_lost_is_followed_to_its_end(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, lost: Fault, first_status: int
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    # Given a StartJob that starts the job but loses its answer: botocore's retry meets a ConflictException
    endpoint.inject("StartJob", lost)

    # When an invocation runs
    outcome = run(clients, Cursor(DATA_SET, arn), wait=endpoint.end_jobs)

    # Then it reads the job instead of starting it again, and follows it to its end
    assert outcome == "completed"
    assert statuses(endpoint, "StartJob") == [first_status, 409]
    assert exports(endpoint) == [(revision, "COMPLETED")]
    assert end_event(aws)["detail"]["Exported"] == 1


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_cursor_delivered_again_follows_a_job_that_ended_meanwhile(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    # Given an invocation that handed over right after creating its job
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    run(clients, Cursor(DATA_SET, arn), Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 1))
    payload = hand_overs.payloads[-1]
    # And the next invocation started the job and failed before handing over; the job has ended since
    [job] = payload["in_flight"]
    local_client(endpoint.url).start_job(JobId=job["JobId"])
    endpoint.end_jobs()

    # When Lambda delivers that invocation's cursor again
    assert run(clients, Cursor.from_payload(payload)) == "completed"

    # Then the job is counted as it ended, and not started again
    assert statuses(endpoint, "StartJob") == [202, 409]
    assert exports(endpoint) == [(revision, "COMPLETED")]
    assert end_event(aws)["detail"]["Exported"] == 1


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_conflict_while_the_job_still_waits_is_tried_again(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.inject("StartJob", Fault("conflict", count=2))
    waits: list[float] = []

    assert run(clients, Cursor(DATA_SET, arn), wait=endpoint.end_jobs, waits=waits) == "completed"

    assert statuses(endpoint, "StartJob") == [409, 409, 202]
    assert exports(endpoint) == [(revision, "COMPLETED")]
    # Each conflict is waited out like a refusal, with backoff, then the running job is polled afresh
    assert waits == [5, 7.5, 5]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
@pytest.mark.usefixtures("no_retry_sleep")
def test_throttled_job_calls_are_ridden_out(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    revisions = published(endpoint, 2)
    arn = event_action(endpoint)
    # botocore's retries take the first five, the worker's next poll round the sixth
    endpoint.inject("CreateJob", Fault("throttle", count=5))
    endpoint.inject("StartJob", Fault("throttle", count=6))

    assert run(clients, Cursor(DATA_SET, arn), wait=endpoint.end_jobs) == "completed"

    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions]
    assert statuses(endpoint, "StartJob")[:7] == [429] * 6 + [202]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_every_pending_retry_survives_a_hand_over(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    # Given three revisions, the first two of which meet the export quota once, in jobs that end together
    first, second, third = published(endpoint, 3)
    for revision in (first, second):
        endpoint.fail_next_export(revision, "QuotaExceeded")
    arn = event_action(endpoint)

    # When the invocation runs out of time as soon as its third job exists: both retries are pending then
    outcome = run(
        clients,
        Cursor(DATA_SET, arn),
        Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 3),
        wait=endpoint.end_jobs,
    )
    payload = hand_overs.payloads[-1]
    pending = {entry["RevisionId"] for entry in payload["retry"] + payload["in_flight"]}

    # Then the hand-over carries both, and the next invocation exports every revision
    assert (outcome, pending) == ("handed over", {first, second})
    assert run(clients, Cursor.from_payload(payload), wait=endpoint.end_jobs) == "completed"
    completed = [revision for revision, state in exports(endpoint) if state == "COMPLETED"]
    assert sorted(completed) == sorted([first, second, third])
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Failed"]) == (3, 0)


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_auto_export_jobs_holding_quota_slots_are_waited_out(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    # Given four auto-export jobs of the event action running: one of the account's five slots is free
    mine = published(endpoint, 3)
    arn = event_action(endpoint)
    for _ in range(4):
        endpoint.publish(DATA_SET, ["new.csv"], in_progress=True)
    running: list[int] = []  # how many of the backfill's jobs run at each wait

    def ended() -> None:
        running.append(sum(state == "IN_PROGRESS" for _, state in exports(endpoint)))
        endpoint.end_jobs()

    assert run(clients, Cursor(DATA_SET, arn), wait=ended) == "completed"

    # Then its second job waited for a slot, and every revision was exported
    assert 402 in statuses(endpoint, "StartJob")
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in mine]
    assert end_event(aws)["detail"]["Exported"] == 3
    # And once the first ended and the second started, the third started beside the second, not after it
    assert running == [1, 2]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_the_wait_starts_over_after_a_round_in_which_a_job_ended(
    clients: WorkerClients, endpoint: DataExchangeEndpoint
) -> None:
    # Given four auto-export jobs running: the backfill's first job takes the last slot, its second waits
    published(endpoint, 2)
    arn = event_action(endpoint)
    for _ in range(4):
        endpoint.publish(DATA_SET, ["new.csv"], in_progress=True)
    waits: list[float] = []

    # And when the first ends, new auto-exports take every slot: the second still waits in the round that sees it
    def ended() -> None:
        endpoint.end_jobs()
        if len(waits) == 1:
            for _ in range(5):
                endpoint.publish(DATA_SET, ["newer.csv"], in_progress=True)

    assert run(clients, Cursor(DATA_SET, arn), wait=ended, waits=waits) == "completed"

    # Then the wait after that round is the first wait again, not a longer one; once the second job runs, the wait
    # ends a step (1 s) before the job time the first one showed (it ended within its first 5 s: 2.5 s, halfway)
    assert waits == [5, 5, 1.5]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_revision_skipped_right_before_a_hand_over_is_not_dealt_with_again(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    # Given two revisions, the newer already exported to the destination (its job still running)
    fresh, exported = published(endpoint, 2)
    earlier_export(endpoint, exported, KeyPattern="${Revision.CreatedAt}/${Asset.Name}")
    arn = event_action(endpoint)
    # And an invocation that runs out of time once it has made the older one's job, and skipped the newer
    run(clients, Cursor(DATA_SET, arn), Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 2))

    # When the next invocation takes over
    assert run(clients, Cursor.from_payload(hand_overs.payloads[-1]), wait=endpoint.end_jobs) == "completed"

    # Then it neither skips the newer again nor exports the older twice
    assert exports(endpoint) == [(exported, "COMPLETED"), (fresh, "COMPLETED")]
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Skipped"]) == (1, 1)


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
@pytest.mark.parametrize(
    ("quota_failures", "outcome"),
    [(ATTEMPTS_PER_REVISION - 1, "COMPLETED"), (ATTEMPTS_PER_REVISION, "ERROR")],
    ids=["last-attempt-succeeds", "every-attempt-fails"],
)
def test_a_revision_is_tried_at_most_attempts_per_revision_times(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, quota_failures: int, outcome: str
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.fail_next_export(revision, "QuotaExceeded", times=quota_failures)

    run(clients, Cursor(DATA_SET, arn), wait=endpoint.end_jobs)

    assert exports(endpoint) == [(revision, "ERROR")] * (ATTEMPTS_PER_REVISION - 1) + [(revision, outcome)]
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Failed"]) == ((1, 0) if outcome == "COMPLETED" else (0, 1))


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_the_end_event_lists_the_first_failures_and_counts_the_rest(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    revisions = published(endpoint, LISTED_FAILURES + 2)
    for revision in revisions:
        endpoint.fail_next_export(revision, "MalwareDetected")
    arn = event_action(endpoint)

    assert run(clients, Cursor(DATA_SET, arn), wait=endpoint.end_jobs) == "failed"

    detail = end_event(aws)["detail"]
    assert (detail["Failed"], detail["FailuresNotListed"]) == (LISTED_FAILURES + 2, 2)
    assert [failure["RevisionId"] for failure in detail["Failures"]] == revisions[:LISTED_FAILURES]
    assert detail["RevisionIds"] == revisions[:LISTED_FAILURES]


# --- pacing: waits and hand-overs ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_the_wait_between_polls_starts_at_backfill_poll_seconds_and_grows_by_half_to_a_minute(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKFILL_POLL_SECONDS", "2")
    published(endpoint, 1)
    arn = event_action(endpoint)
    waits: list[float] = []

    # When the job runs through twelve polls
    outcome = run(clients, Cursor(DATA_SET, arn), wait=lambda: len(waits) == 12 and endpoint.end_jobs(), waits=waits)

    assert outcome == "completed"
    assert waits == [2, 3, 4.5, 6.75, 10.125, 15.1875, 22.78125, 34.171875, 51.2578125, 60, 60, 60]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_short_invocation_hands_over_when_a_quarter_of_it_is_left(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    # Given an invocation too short for the 120 s margin (400 s), whose job runs on
    context = Context(clients.clock, remaining_ms=400_000)
    waits: list[float] = []

    assert run(clients, Cursor(DATA_SET, arn), context, waits=waits) == "handed over"

    # Then it polls on until a quarter of its time (100 s) is left, its last wait cut short to end there
    assert context.get_remaining_time_in_millis() == pytest.approx(100_000, abs=1)
    assert sum(waits) == pytest.approx(300, abs=0.01) and waits[-1] < 60
    assert len(hand_overs.payloads) == 1


# --- pages --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True)
@pytest.mark.parametrize("latest", [None, 3, 7], ids=["all", "latest-3", "latest-7"])
def test_revisions_listed_in_short_pages_are_all_in_scope(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, latest: int | None
) -> None:
    revisions = published(endpoint, 7)
    arn = event_action(endpoint)

    run(clients, Cursor(DATA_SET, arn, latest=latest))

    expected = revisions[-latest:] if latest else revisions
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in expected]


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True)
def test_a_first_invocation_for_the_latest_n_reads_only_the_pages_that_hold_them(
    clients: WorkerClients, endpoint: DataExchangeEndpoint
) -> None:
    revisions = published(endpoint, 6)
    arn = event_action(endpoint)

    run(clients, Cursor(DATA_SET, arn, latest=2))

    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions[-2:]]
    assert statuses(endpoint, "ListDataSetRevisions") == [200]


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True)
def test_each_listing_reads_pages_only_down_to_what_the_last_one_gave(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given six revisions, listed newest first two a page, of which the backfill takes two at a time
    monkeypatch.setattr(backfill, "AHEAD", 2)
    revisions = published(endpoint, 6)
    arn = event_action(endpoint)

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"
    # The pages each listing read: runs of calls
    operations = [call.operation for call in endpoint.calls]
    listings = [len(list(run)) for name, run in groupby(operations) if name == "ListDataSetRevisions"]

    # Then the first listing reads every page (the oldest revision is on the last), each next one down to the
    # page that holds what the last one gave, and the last finds nothing newer
    assert listings == [3, 3, 2, 1]
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_hand_over_lists_nothing_while_the_revisions_it_carries_last(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    revisions = published(endpoint, 6)
    arn = event_action(endpoint)
    out_of_time = Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 3)
    assert run(clients, Cursor(DATA_SET, arn), out_of_time, endpoint.end_jobs) == "handed over"
    listed = len(statuses(endpoint, "ListDataSetRevisions"))

    assert run(clients, Cursor.from_payload(hand_overs.payloads[-1]), wait=endpoint.end_jobs) == "completed"

    # Only the last look, which finds nothing newer than what it carried
    assert len(statuses(endpoint, "ListDataSetRevisions")) - listed == 1
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions]


def test_a_revision_published_at_the_very_time_of_until_is_in_scope(endpoint: DataExchangeEndpoint) -> None:
    revisions = published(endpoint, 2)
    dataexchange = local_client(endpoint.url)
    newest = dataexchange.list_data_set_revisions(DataSetId=DATA_SET)["Revisions"][0]

    in_scope = revisions_in_scope(dataexchange, Cursor(DATA_SET, "arn"), until=newest["CreatedAt"])

    assert [revision["Id"] for revision in in_scope] == revisions


def test_more_than_a_page_of_revisions_is_read_in_pages_of_the_most_the_service_returns(
    endpoint: DataExchangeEndpoint,
) -> None:
    revisions = published(endpoint, PAGE + 1)
    arn = event_action(endpoint)
    dataexchange = local_client(endpoint.url)
    until = dataexchange.get_event_action(EventActionId=arn.rsplit("/", 1)[1])["CreatedAt"]

    in_scope = revisions_in_scope(dataexchange, Cursor(DATA_SET, arn), until)

    assert [revision["Id"] for revision in in_scope] == revisions
    assert statuses(endpoint, "ListDataSetRevisions") == [200, 200]


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True)
def test_an_export_beyond_the_first_page_of_a_revisions_jobs_counts_as_done(endpoint: DataExchangeEndpoint) -> None:
    # Given a revision exported to the destination first, then three times elsewhere: its jobs fill two pages
    [revision] = published(endpoint, 1)
    earlier_export(endpoint, revision, KeyPattern="${Revision.CreatedAt}/${Asset.Name}")
    for bucket in ("elsewhere-1", "elsewhere-2", "elsewhere-3"):
        earlier_export(endpoint, revision, Bucket=bucket)
    dataexchange = local_client(endpoint.url)
    action = dataexchange.get_event_action(EventActionId=event_action(endpoint).rsplit("/", 1)[1])["Action"]
    listed = len(statuses(endpoint, "ListJobs"))

    assert exported_before(dataexchange, DATA_SET, revision, ExportSettings.of_action(action))
    assert statuses(endpoint, "ListJobs")[listed:] == [200, 200]


# --- what counts as exported already --------------------------------------------------------------------


def earlier_export(endpoint: DataExchangeEndpoint, revision: str, **destination: str) -> None:
    dataexchange = local_client(endpoint.url)
    job = dataexchange.create_job(
        Type="EXPORT_REVISIONS_TO_S3",
        Details={
            "ExportRevisionsToS3": {
                "DataSetId": DATA_SET,
                "RevisionDestinations": [{"Bucket": BUCKET, "RevisionId": revision, **destination}],  # type: ignore[typeddict-item]
            }
        },
    )
    dataexchange.start_job(JobId=job["Id"])


@pytest.mark.parametrize(
    ("earlier", "ours", "skipped"),
    [
        ({"KeyPattern": "${Asset.Id}"}, {"KeyPattern": "${Revision.Id}/${Asset.Id}"}, False),
        ({}, {"KeyPattern": "${Asset.Name}"}, True),
        ({}, {}, False),
        ({"KeyPattern": "${Revision.CreatedAt}/${Asset.Name}"}, {}, True),
    ],
    ids=[
        "another-key-pattern",
        "a-manual-jobs-default-is-asset-name",
        "the-event-actions-default-is-not-a-manual-jobs",
        "the-event-actions-default-spelled-out",
    ],
)
def test_an_earlier_export_counts_only_to_the_same_bucket_and_key_pattern(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, earlier: dict[str, str], ours: dict[str, str], skipped: bool
) -> None:
    [revision] = published(endpoint, 1)
    earlier_export(endpoint, revision, **earlier)
    arn = event_action(endpoint, **ours)
    cursor = Cursor(DATA_SET, arn)

    run(clients, cursor)

    assert (cursor.skipped, cursor.exported) == ((1, 0) if skipped else (0, 1))


def test_an_earlier_export_that_failed_does_not_count(clients: WorkerClients, endpoint: DataExchangeEndpoint) -> None:
    [revision] = published(endpoint, 1)
    endpoint.fail_next_export(revision, "S3AccessDenied")
    earlier_export(endpoint, revision, KeyPattern="${Revision.CreatedAt}/${Asset.Name}")
    while endpoint.jobs()[0]["State"] == "IN_PROGRESS":
        local_client(endpoint.url).get_job(JobId=endpoint.jobs()[0]["Id"])
    cursor = Cursor(DATA_SET, event_action(endpoint))

    run(clients, cursor)

    assert (cursor.skipped, cursor.exported) == (0, 1)


def test_auto_exports_of_an_event_action_made_without_a_key_pattern_count_as_done(
    clients: WorkerClients, endpoint: DataExchangeEndpoint
) -> None:
    # Given an event action made without a key pattern (as the console makes it) that auto-exported a revision,
    # replaced since by another to the same bucket
    replaced = event_action(endpoint)
    endpoint.publish(DATA_SET, ["new.csv"])
    local_client(endpoint.url).delete_event_action(EventActionId=replaced.rsplit("/", 1)[1])
    cursor = Cursor(DATA_SET, event_action(endpoint))

    run(clients, cursor)

    # Then its auto-export counts as an export with the event action's default pattern: not made again
    assert (cursor.skipped, cursor.exported) == (1, 0)
    assert exports(endpoint) == []


# --- the event action ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [Fault("access_denied"), Fault("internal", count=6)], ids=["access-denied", "persistent-5xx"]
)
@pytest.mark.usefixtures("no_retry_sleep")
def test_an_event_action_that_cannot_be_read_is_an_error_for_lambda_to_retry(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers, fault: Fault
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.inject("GetEventAction", fault)

    with pytest.raises(ClientError, match=r"GetEventAction"):
        run(clients, Cursor(DATA_SET, arn))

    assert (exports(endpoint), aws.bus.events, hand_overs.payloads) == ([], [], [])


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_an_event_action_that_cannot_be_read_before_a_start_is_an_error(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    first, second, _ = published(endpoint, 3)
    arn = event_action(endpoint)

    # When reading the event action is denied while the third revision waits for a slot
    def denied_then_ended() -> None:
        endpoint.inject("GetEventAction", Fault("access_denied"))
        endpoint.end_jobs()

    with pytest.raises(ClientError, match="AccessDenied"):
        run(clients, Cursor(DATA_SET, arn), wait=denied_then_ended)

    # Then the third is not exported, and no end event claims the backfill is over
    assert exports(endpoint) == [(first, "COMPLETED"), (second, "COMPLETED")]
    assert aws.bus.events == []


# --- what the jobs carry, and the cursor ---------------------------------------------------------------

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_the_jobs_export_with_the_event_actions_encryption(
    clients: WorkerClients, endpoint: DataExchangeEndpoint
) -> None:
    [revision] = published(endpoint, 1)
    created = local_client(endpoint.url).create_event_action(
        Action={
            "ExportRevisionToS3": {
                "RevisionDestination": {"Bucket": BUCKET},
                "Encryption": {"Type": "aws:kms", "KmsKeyArn": KEY_ARN},
            }
        },
        Event={"RevisionPublished": {"DataSetId": DATA_SET}},
    )

    run(clients, Cursor(DATA_SET, created["Arn"]))

    [job] = endpoint.jobs()
    assert job["Details"]["ExportRevisionsToS3"]["Encryption"] == {"Type": "aws:kms", "KmsKeyArn": KEY_ARN}
    assert exports(endpoint) == [(revision, "COMPLETED")]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_each_hand_over_counts_the_invocation_it_hands_to(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    payload = Cursor(DATA_SET, arn).to_payload()

    # When each invocation runs out of time while its job runs
    for _ in range(3):
        run(clients, Cursor.from_payload(payload), Context(clients.clock, remaining_ms=60_000))
        payload = hand_overs.payloads[-1]

    assert [payload["invocation"] for payload in hand_overs.payloads] == [2, 3, 4]
    counts = Backfill(clients, Cursor.from_payload(payload), Context(clients.clock))._counts()
    assert counts == "0 exported, 0 skipped, 0 failed, in 4 invocation(s)"


def test_a_cursor_keeps_its_place_through_the_payload() -> None:
    cursor = Cursor(DATA_SET, "arn", latest=2, oldest=("2026-01-01T00:00:00", "a" * 32), after=("2026-01-02", "b" * 32))

    again = Cursor.from_payload(json.loads(json.dumps(cursor.to_payload())))

    assert again == cursor


def test_an_invocation_that_failed_for_good_is_reported_as_backfill_failed(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    # Given the record Lambda sends when the three attempts at invocation 2 were killed, one job in flight
    arn = event_action(endpoint)
    running = {"JobId": "j" * 32, "RevisionId": "r" * 32, "Attempt": 1, "Started": True}
    cursor = Cursor(DATA_SET, arn, in_flight=[running], retry=[{"RevisionId": "q" * 32, "Attempt": 2}])
    cursor.exported, cursor.invocation = 3, 2
    killed = {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited with error: signal: killed"}
    record = failure_record(WORKER, cursor.to_payload(), killed, 3)

    assert report_failed_invocation(clients.events, record) == "reported"

    event = end_event(aws)
    assert event["detail-type"] == "Backfill Failed"
    assert event["resources"] == [arn]
    detail = event["detail"]
    assert (detail["Exported"], detail["DataSetIds"], detail["RevisionIds"]) == (3, [DATA_SET], ["r" * 32, "q" * 32])
    assert detail["Reason"] == (
        "Invocation 2 of the backfill failed 3 time(s) (RetriesExhausted): "
        "Runtime.ExitError: Runtime exited with error: signal: killed"
    )


EVENT_ACTION = f"arn:aws:dataexchange:us-east-1:123456789012:event-actions/{'e' * 32}"


def test_a_timed_out_invocation_is_reported_with_the_message_it_left(clients: WorkerClients, aws: OfflineAws) -> None:
    # Given the record of an invocation that timed out each time: its answer has a message but no errorType
    cursor = Cursor(DATA_SET, EVENT_ACTION)
    timed_out = {"errorMessage": "2026-01-01T00:15:00.000Z 6f1c Task timed out after 900.00 seconds"}
    record = failure_record(WORKER, cursor.to_payload(), timed_out, 3)

    assert report_failed_invocation(clients.events, record) == "reported"

    assert end_event(aws)["detail"]["Reason"] == (
        "Invocation 1 of the backfill failed 3 time(s) (RetriesExhausted): "
        "2026-01-01T00:15:00.000Z 6f1c Task timed out after 900.00 seconds"
    )


def test_an_invocation_whose_event_expired_unanswered_is_reported_as_such(
    clients: WorkerClients, aws: OfflineAws
) -> None:
    # Given the record of a hand-over whose event grew too old in Lambda's queue: no attempt answered
    cursor = Cursor(DATA_SET, EVENT_ACTION, invocation=4)
    record = failure_record(WORKER, cursor.to_payload(), {}, 0)
    record["requestContext"]["condition"] = "EventAgeExceeded"
    del record["responseContext"], record["responsePayload"]

    assert report_failed_invocation(clients.events, record) == "reported"

    event = end_event(aws)
    assert event["detail-type"] == "Backfill Failed"
    assert event["detail"]["Reason"] == (
        "Invocation 4 of the backfill failed 0 time(s) (EventAgeExceeded): the function gave no answer"
    )


def test_the_record_of_a_failed_report_is_dropped_so_nothing_loops(clients: WorkerClients, aws: OfflineAws) -> None:
    # Given the record of a report that failed: its payload is the EventBridge event, not a cursor
    event = {"version": "0", "detail-type": "Lambda Function Invocation Result - Failure", "detail": {}}
    record = failure_record(WORKER, event, {"errorMessage": "Rate exceeded"}, 3)

    assert report_failed_invocation(clients.events, record) == "dropped"
    assert aws.bus.events == []


def test_a_products_backfill_names_the_product_in_its_events(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)

    assert run(clients, Cursor(DATA_SET, arn, product_id="prod-uexample0abc1d")) == "completed"

    assert end_event(aws)["resources"] == [arn, "prod-uexample0abc1d"]


# --- what AWS does around the worker -----------------------------------------------------------------


def our_jobs(endpoint: DataExchangeEndpoint) -> list[dict[str, Any]]:
    return [
        job
        for job in endpoint.jobs()
        if job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["Bucket"] == BUCKET
    ]


def most_at_once(jobs: list[dict[str, Any]]) -> int:
    """The most of these jobs that ran at one time (by their start and end on the clock)."""
    return max(sum(other["StartedAt"] <= job["StartedAt"] < other["EndedAt"] for other in jobs) for job in jobs)


@pytest.mark.parametrize("endpoint", [{"job_seconds": 60, "waiting_reads": 2}], indirect=True)
def test_a_started_job_that_still_reads_waiting_is_followed_to_its_end(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    # Given jobs that read WAITING twice after StartJob answered 202, as a job queued by the service does
    revisions = published(endpoint, 6)
    arn = event_action(endpoint)

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    # Then each was followed to its end: none counted as failed, and none as a free slot
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Failed"]) == (6, 0)
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions]
    assert most_at_once(our_jobs(endpoint)) == 2


@pytest.mark.parametrize("endpoint", [{"job_seconds": 30}], indirect=True)
def test_an_export_denied_right_after_the_deploy_is_tried_again_until_the_grant_is_seen(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    # Given the worker's new grant on the bucket not seen by the service for its first 100 s
    revisions = published(endpoint, 2)
    arn = event_action(endpoint)
    endpoint.deny_exports_for(100)

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    # Then each revision's denied exports were tried again, ACCESS_DENIED_RETRY_SECONDS apart, until one went through
    assert [state for _, state in exports(endpoint)][-2:] == ["COMPLETED", "COMPLETED"]
    assert {revision for revision, state in exports(endpoint) if state == "ERROR"} == set(revisions)
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Failed"]) == (2, 0)


@pytest.mark.parametrize("endpoint", [{"job_seconds": 30}], indirect=True)
def test_an_export_still_denied_after_the_grace_is_reported(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, clock: VirtualClock
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.deny_exports_for(3600)
    started = clock.now()

    assert run(clients, Cursor(DATA_SET, arn)) == "failed"

    # Tried again until ACCESS_DENIED_GRACE_SECONDS had passed, then reported as any failure is
    attempts = exports(endpoint)
    assert attempts == [(revision, "ERROR")] * len(attempts) and len(attempts) > 1
    assert clock.now() - started < backfill.ACCESS_DENIED_GRACE_SECONDS + 2 * (
        30 + backfill.ACCESS_DENIED_RETRY_SECONDS
    )
    [failure] = end_event(aws)["detail"]["Failures"]
    assert [error["Code"] for error in failure["Errors"]] == ["ACCESS_DENIED_EXCEPTION"]


@pytest.mark.parametrize("endpoint", [{"job_seconds": 30}], indirect=True)
def test_the_grace_for_a_denied_export_runs_from_the_chains_start_across_hand_overs(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, clock: VirtualClock, hand_overs: HandOvers
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.deny_exports_for(3600)
    started = clock.now()
    # Given invocations short enough to hand over several times within the grace
    cursor, outcomes = Cursor(DATA_SET, arn), []
    for _ in range(30):
        outcomes.append(run(clients, cursor, Context(clients.clock, remaining_ms=200_000)))
        if outcomes[-1] != "handed over":
            break
        cursor = Cursor.from_payload(hand_overs.payloads[-1])

    # Then the chain reports the export denied once the grace since its first invocation has passed, not the grace
    # of each invocation anew
    assert outcomes[-1] == "failed" and len(outcomes) > 1
    assert clock.now() - started < backfill.ACCESS_DENIED_GRACE_SECONDS + 2 * (
        30 + backfill.ACCESS_DENIED_RETRY_SECONDS
    )
    [failure] = end_event(aws)["detail"]["Failures"]
    assert [error["Code"] for error in failure["Errors"]] == ["ACCESS_DENIED_EXCEPTION"]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
@pytest.mark.parametrize(
    ("cause", "attempts"),
    [("AssetsPerRevision", ["ERROR"]), ("ConcurrentExports", ["ERROR", "COMPLETED"])],
    ids=["per-revision-quota", "concurrency-quota"],
)
def test_a_quota_of_the_revision_itself_fails_it_at_once(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, cause: str, attempts: list[str]
) -> None:
    # Given a revision whose every export meets a quota, named in the job error's LimitName
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.fail_next_export(revision, cause, times=1 if cause == "ConcurrentExports" else ATTEMPTS_PER_REVISION)

    run(clients, Cursor(DATA_SET, arn), wait=endpoint.end_jobs)

    # Then one that passes as other jobs end is tried again; one of the revision's own is reported at once
    assert exports(endpoint) == [(revision, state) for state in attempts]
    if len(attempts) == 1:
        [failure] = end_event(aws)["detail"]["Failures"]
        assert failure["Errors"] == [
            {
                "Code": "SERVICE_QUOTA_EXCEEDED_EXCEPTION",
                "Message": "The revision has more assets than an export takes",
                "LimitName": "Assets per revision",
                "LimitValue": 10000,
            }
        ]


def test_an_end_event_eventbridge_refuses_is_put_again(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    # Given EventBridge refusing the next two entries (HTTP 200, FailedEntryCount 1)
    aws.eventbridge.refuse_next(2)
    waits: list[float] = []

    assert run(clients, Cursor(DATA_SET, arn), waits=waits) == "completed"

    # Then the third attempt put it on the bus, after the waits of event_bus.put_event
    assert end_event(aws)["detail-type"] == "Backfill Completed"
    assert [entry["DetailType"] for entry in aws.eventbridge.refused] == ["Backfill Completed"] * 2
    assert waits[-2:] == [1, 2]


def test_an_end_event_eventbridge_keeps_refusing_is_logged_as_an_error(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    aws.eventbridge.refuse_next(5, "InternalFailure")

    run(clients, Cursor(DATA_SET, arn))

    assert aws.bus.events == []
    [logged] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert logged.getMessage().startswith(
        "EventBridge refused the 'Backfill Completed' event after 5 attempts (InternalFailure: "
    )


@pytest.mark.parametrize("endpoint", [{"job_seconds": 300}], indirect=True)
def test_a_revision_revoked_since_it_was_listed_fails_alone(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    first, revoked, last = published(endpoint, 3)
    arn = event_action(endpoint)
    # Given an invocation that handed over with the three revisions listed, having started the first's job
    run(clients, Cursor(DATA_SET, arn), Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 1))
    # When the provider revokes the second before the next invocation comes to it
    endpoint.revoke(revoked)

    assert run(clients, Cursor.from_payload(hand_overs.payloads[-1])) == "failed"

    assert exports(endpoint) == [(first, "COMPLETED"), (last, "COMPLETED")]
    [failure] = end_event(aws)["detail"]["Failures"]
    assert (failure["RevisionId"], failure["Errors"][0]["Code"]) == (revoked, "ValidationException")
    # the service's own words, not botocore's wrapping of them
    assert revoked in failure["Errors"][0]["Message"] and "An error occurred" not in failure["Errors"][0]["Message"]


# --- the chain's guard rails --------------------------------------------------------------------------


@pytest.fixture
def started(clients: WorkerClients, hand_overs: HandOvers, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Cursor]:
    """Starts a backfill as the custom resource's handler does (through Lambda's Invoke); returns the cursor the
    worker's first invocation gets."""
    monkeypatch.setenv("BACKFILL_FUNCTION", WORKER)

    def start(arn: str, latest: int | None = None) -> Cursor:
        backfill.start(clients, Cursor(DATA_SET, arn, latest=latest))
        return Cursor.from_payload(hand_overs.payloads[-1])

    return start


@pytest.mark.parametrize("ends", [True, False], ids=["first-delivery-ends-it", "first-delivery-hands-over"])
def test_a_hand_over_delivered_twice_does_not_fork_the_backfill(
    clients: WorkerClients,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    hand_overs: HandOvers,
    started: Callable[..., Cursor],
    ends: bool,
) -> None:
    revisions = published(endpoint, 4)
    first = started(event_action(endpoint))
    # Given an invocation that hands over after its second job, and Lambda delivering that hand-over twice
    aws.lambda_.deliver_twice("Worker")
    run(clients, first, Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 2))
    *_, delivered, again = hand_overs.payloads
    assert delivered == again

    # When the first delivery runs to the end of the backfill, or hands over in turn, and then the copy runs
    out_of_time = None if ends else Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 3)
    first_outcome = run(clients, Cursor.from_payload(delivered), out_of_time)
    outcomes = [first_outcome, run(clients, Cursor.from_payload(again))]
    if not ends:
        outcomes.append(run(clients, Cursor.from_payload(hand_overs.payloads[-1])))

    # Then the copy stops at once: one chain, one end event, each revision exported once
    assert outcomes == (["completed", "stopped"] if ends else ["handed over", "stopped", "completed"])
    assert end_event(aws)["detail"]["Exported"] == 4
    assert sorted(exports(endpoint)) == sorted((revision, "COMPLETED") for revision in revisions)


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_of_two_deliveries_of_one_invocation_running_at_once_the_one_claimed_over_stops_before_its_next_job(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, started: Callable[..., Cursor]
) -> None:
    published(endpoint, 4)
    arn = event_action(endpoint)
    cursor = started(arn)

    # Given a delivery of the first invocation whose two jobs run when another delivery of it starts and claims the
    # chain with a token of its own
    def other_delivery_claims_then_jobs_end() -> None:
        clients.dataexchange.tag_resource(ResourceArn=arn, Tags=Claim(cursor.chain, cursor.invocation, "other").tag())
        endpoint.end_jobs()

    outcome = run(clients, Cursor.from_payload(cursor.to_payload()), wait=other_delivery_claims_then_jobs_end)

    # Then the first stops before its next job, leaving the rest to the other: no revision exported twice
    assert outcome == "stopped"
    assert len(exports(endpoint)) == 2


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_retry_of_an_invocation_that_failed_after_its_claim_goes_on(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, started: Callable[..., Cursor]
) -> None:
    published(endpoint, 2)
    arn = event_action(endpoint)
    first = started(arn)
    # Given an invocation that claimed the chain, exported both, then failed on reading the event action at the end

    def denied_then_ended() -> None:
        endpoint.inject("GetEventAction", Fault("access_denied"))
        endpoint.end_jobs()

    with pytest.raises(ClientError):
        run(clients, Cursor.from_payload(first.to_payload()), wait=denied_then_ended)

    # Then Lambda's retry of it, with the same cursor, takes the chain over and finishes the backfill (what the
    # failed attempt exported counts as exported before)
    assert run(clients, first, wait=endpoint.end_jobs) == "completed"
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Skipped"]) == (0, 2)


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_newer_backfill_of_the_event_action_ends_the_older_chain(
    clients: WorkerClients,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    hand_overs: HandOvers,
    started: Callable[..., Cursor],
) -> None:
    revisions = published(endpoint, 3)
    arn = event_action(endpoint)
    # Given a backfill of the newest revision that handed over while its job ran
    older = started(arn, latest=1)
    run(clients, older, Context(clients.clock, out_of_time=lambda: 202 in statuses(endpoint, "StartJob")))
    handed_over = hand_overs.payloads[-1]
    # When an update widens it to every revision: a new backfill starts
    newer = started(arn)

    # Then the older chain's next invocation stops, and the newer one exports the rest
    assert run(clients, Cursor.from_payload(handed_over), wait=endpoint.end_jobs) == "stopped"
    assert run(clients, newer, wait=endpoint.end_jobs) == "completed"
    event = end_event(aws)
    assert (event["detail"]["Exported"], event["detail"]["Skipped"]) == (2, 1)
    assert sorted(exports(endpoint)) == sorted((revision, "COMPLETED") for revision in revisions)


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_an_older_chains_claim_written_late_does_not_stop_the_newer(
    clients: WorkerClients, aws: OfflineAws, endpoint: DataExchangeEndpoint, started: Callable[..., Cursor]
) -> None:
    published(endpoint, 2)
    arn = event_action(endpoint)
    older = started(arn)
    newer = started(arn)
    # Given the older chain's invocation claiming the tag just after the newer backfill started (it read the tag
    # before): the tag names the older chain
    clients.dataexchange.tag_resource(ResourceArn=arn, Tags={BACKFILL_TAG: f"{older.chain}:1:late"})

    # Then the newer chain goes on, and the older one stops at its next look
    assert run(clients, newer, wait=endpoint.end_jobs) == "completed"
    assert run(clients, older, wait=endpoint.end_jobs) == "stopped"
    assert end_event(aws)["detail"]["Exported"] == 2


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_chain_that_deals_with_no_revision_for_many_invocations_ends_failed(
    clients: WorkerClients,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    hand_overs: HandOvers,
    started: Callable[..., Cursor],
) -> None:
    revisions = published(endpoint, 3)
    cursor = started(event_action(endpoint))
    outcomes = []

    # When its two jobs never end, invocation after invocation
    for _ in range(backfill.IDLE_INVOCATIONS + 1):
        outcomes.append(run(clients, cursor, Context(clients.clock, remaining_ms=60_000)))
        if outcomes[-1] != "handed over":
            break
        cursor = Cursor.from_payload(hand_overs.payloads[-1])

    # Then the chain ends after IDLE_INVOCATIONS, saying why and listing what it left
    assert outcomes == ["handed over"] * (backfill.IDLE_INVOCATIONS - 1) + ["failed"]
    event = end_event(aws)
    assert event["detail-type"] == "Backfill Failed"
    assert event["detail"]["Reason"] == (
        f"No revision was exported, skipped or failed in {backfill.IDLE_INVOCATIONS} invocations in a row "
        "(2 job(s) in flight, 0 revision(s) waiting to retry)"
    )
    assert event["detail"]["RevisionIds"] == revisions[:2]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_an_invocation_that_only_skipped_a_revision_dealt_with_one_and_does_not_count_as_idle(
    clients: WorkerClients, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    # Given two revisions, the older already exported to the destination, and a chain one idle invocation short of
    # the limit
    exported, _ = published(endpoint, 2)
    earlier_export(endpoint, exported, KeyPattern="${Revision.CreatedAt}/${Asset.Name}")
    arn = event_action(endpoint)
    cursor = Cursor(DATA_SET, arn, idle=backfill.IDLE_INVOCATIONS - 1)

    # When an invocation skips the older, makes the newer's job and runs out of time while it runs
    outcome = run(clients, cursor, Context(clients.clock, out_of_time=lambda: jobs_created(endpoint) >= 2))

    # Then it hands over with the count of idle invocations reset: a skipped revision is one dealt with
    assert outcome == "handed over"
    assert Cursor.from_payload(hand_overs.payloads[-1]).idle == 0


@pytest.mark.parametrize(
    ("endpoint", "job_seconds"), [({"job_seconds": 30}, 30), ({"job_seconds": 600}, 600)], indirect=["endpoint"]
)
def test_the_worker_follows_its_jobs_within_a_tenth_of_their_time(
    clients: WorkerClients,
    aws: OfflineAws,
    endpoint: DataExchangeEndpoint,
    hand_overs: HandOvers,
    clock: VirtualClock,
    job_seconds: int,
) -> None:
    # Given jobs that take job_seconds on the clock the worker's waits move on
    published(endpoint, 20)
    cursor = Cursor(DATA_SET, event_action(endpoint))
    began = clock.now()

    while run(clients, cursor, Context(clock, remaining_ms=900_000)) == "handed over":
        cursor = Cursor.from_payload(hand_overs.payloads[-1])

    # Then the backfill takes at most a tenth more than two jobs at a time allow, reading each job a few times
    floor = 20 * job_seconds / 2
    assert floor <= clock.now() - began <= 1.1 * floor
    assert len(statuses(endpoint, "GetJob")) <= 4 * 20
    assert end_event(aws)["detail"]["Exported"] == 20
