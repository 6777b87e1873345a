"""The backfill worker's functions, with real boto3 clients over HTTP to the offline Data Exchange, Lambda and
EventBridge. Time is the endpoint's (a tick per request) and the context's (the test says how much is left)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cdk_dataexchange_auto_export.local.assembly import LambdaFunction
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault, local_client
from cdk_dataexchange_auto_export.local.endpoints.server import DROPPED, client
from cdk_dataexchange_auto_export.local.lambda_runtime import Execution, LambdaRuntime
from cdk_dataexchange_auto_export.local.lambda_service import failure_record
from dataexchange_auto_export_handler.backfill import (
    ATTEMPTS_PER_REVISION,
    LISTED_FAILURES,
    PAGE,
    Backfill,
    Cursor,
    already_exported,
    report_failed_invocation,
    revisions_in_scope,
)
from dataexchange_auto_export_handler.clients import RETRY_CONFIG, Clients
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
    """A Lambda context with 15 minutes (or `remaining_ms`), of which each look at the time (a poll round) spends
    `per_poll_ms`, and none left once `out_of_time()` says so."""

    invoked_function_arn = WORKER

    def __init__(
        self, per_poll_ms: int = 0, out_of_time: Callable[[], bool] = lambda: False, remaining_ms: int = 900_000
    ) -> None:
        self.remaining_ms, self.per_poll_ms, self.out_of_time = remaining_ms, per_poll_ms, out_of_time

    def get_remaining_time_in_millis(self) -> int:
        self.remaining_ms -= self.per_poll_ms
        return 0 if self.out_of_time() else self.remaining_ms


@pytest.fixture
def hand_overs(aws: OfflineAws) -> HandOvers:
    runtime = HandOvers(aws)
    function = LambdaFunction("Worker", Path("."), "worker.handler", 900, 256, {})
    aws.lambda_.serve(lambda name: (function, WORKER) if name == WORKER else None, runtime)
    return runtime


@pytest.fixture
def clients(aws: OfflineAws, hand_overs: HandOvers) -> Clients:
    return Clients(
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
    clients: Clients,
    cursor: Cursor,
    context: Context | None = None,
    wait: Callable[[], object] = int,
    waits: list[float] | None = None,
) -> str:
    """One invocation. Its waits for jobs take no time: each is a tick of the test's clock, `wait` (with an
    endpoint whose jobs are held, `endpoint.end_jobs`: every running job ends while the worker waits), and
    how long each would have been is added to `waits`."""

    def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)
        wait()

    return Backfill(clients, cursor, context or Context(), sleep=sleep).run()


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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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
    clients: Clients, endpoint: DataExchangeEndpoint
) -> None:
    revisions = published(endpoint, 5)
    arn = event_action(endpoint)

    run(clients, Cursor(DATA_SET, arn, latest=2))

    assert exports(endpoint) == [(revisions[3], "COMPLETED"), (revisions[4], "COMPLETED")]
    pattern = endpoint.jobs()[0]["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["KeyPattern"]
    assert pattern == "${Revision.CreatedAt}/${Asset.Name}"  # passed on: a manual job's default differs


def test_revisions_published_after_the_event_action_are_its_own(
    clients: Clients, endpoint: DataExchangeEndpoint
) -> None:
    before = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.publish(DATA_SET, ["new.csv"])  # auto-exported by the event action

    run(clients, Cursor(DATA_SET, arn))

    assert exports(endpoint) == [(before[0], "COMPLETED")]


def test_with_nothing_published_before_the_event_action_the_backfill_completes_with_nothing_exported(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    arn = event_action(endpoint)
    endpoint.publish(DATA_SET, ["new.csv"])

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    assert exports(endpoint) == []
    detail = end_event(aws)["detail"]
    assert (detail["Exported"], detail["Skipped"], detail["Failed"]) == (0, 0, 0)


def test_a_revision_already_exported_to_the_destination_is_skipped_and_a_second_run_exports_nothing(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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
def test_at_most_two_jobs_run_and_a_full_quota_is_waited_out(clients: Clients, endpoint: DataExchangeEndpoint) -> None:
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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    ok, broken = published(endpoint, 2)
    arn = event_action(endpoint)
    endpoint.fail_next_export(broken, "S3AccessDenied")

    assert run(clients, Cursor(DATA_SET, arn)) == "failed"

    assert exports(endpoint) == [(ok, "COMPLETED"), (broken, "ERROR")]
    event = end_event(aws)
    assert event["detail-type"] == "Backfill Failed"
    assert (event["detail"]["Exported"], event["detail"]["Failed"]) == (1, 1)
    assert event["detail"]["Failures"] == [
        {
            "RevisionId": broken,
            "Errors": [{"Code": "ACCESS_DENIED_EXCEPTION", "Message": f"Access denied writing to bucket {BUCKET}"}],
        }
    ]
    # As Data Exchange's own events have them, for the same rules and message
    assert (event["detail"]["DataSetIds"], event["detail"]["RevisionIds"]) == ([DATA_SET], [broken])


def test_a_job_ended_by_the_quota_is_tried_again(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.fail_next_export(revision, "QuotaExceeded")

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    assert exports(endpoint) == [(revision, "ERROR"), (revision, "COMPLETED")]
    assert end_event(aws)["detail"]["Exported"] == 1


@pytest.mark.parametrize("endpoint", [{}, {"page_limit": 2}], indirect=True, ids=["pages-of-200", "short-pages"])
def test_hand_overs_carry_a_small_cursor_and_export_nothing_twice(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    revisions = published(endpoint, 12)
    arn = event_action(endpoint)
    payload: dict[str, Any] = Cursor(DATA_SET, arn).to_payload()
    outcomes = []

    # When each invocation has time for a few poll rounds only
    while True:
        outcomes.append(run(clients, Cursor.from_payload(payload), Context(per_poll_ms=150_000)))
        if outcomes[-1] != "handed over":
            break
        payload = hand_overs.payloads[-1]
        assert len(json.dumps(payload)) < 1024

    assert len(outcomes) > 2 and outcomes[-1] == "completed"
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions]
    assert end_event(aws)["detail"]["Exported"] == 12


def test_the_worker_stops_when_the_event_action_is_gone(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint, lost: Fault, first_status: int
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    # Given a StartJob that starts the job but loses its answer: botocore's retry meets a ConflictException
    endpoint.inject("StartJob", lost)

    # When an invocation with time for about 80 poll rounds runs
    outcome = run(clients, Cursor(DATA_SET, arn), Context(per_poll_ms=10_000), wait=endpoint.end_jobs)

    # Then it reads the job instead of starting it again, and follows it to its end
    assert outcome == "completed"
    assert statuses(endpoint, "StartJob") == [first_status, 409]
    assert exports(endpoint) == [(revision, "COMPLETED")]
    assert end_event(aws)["detail"]["Exported"] == 1


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_cursor_delivered_again_follows_a_job_that_ended_meanwhile(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    # Given an invocation that handed over right after creating its job
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    run(clients, Cursor(DATA_SET, arn), Context(out_of_time=lambda: jobs_created(endpoint) >= 1))
    payload = hand_overs.payloads[-1]
    # And the next invocation started the job and failed before handing over; the job has ended since
    [job] = payload["in_flight"]
    local_client(endpoint.url).start_job(JobId=job["JobId"])
    endpoint.end_jobs()

    # When Lambda delivers that invocation's cursor again, to an invocation with time for about 80 poll rounds
    assert run(clients, Cursor.from_payload(payload), Context(per_poll_ms=10_000)) == "completed"

    # Then the job is counted as it ended, and not started again
    assert statuses(endpoint, "StartJob") == [202, 409]
    assert exports(endpoint) == [(revision, "COMPLETED")]
    assert end_event(aws)["detail"]["Exported"] == 1


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_conflict_while_the_job_still_waits_is_tried_again(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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
def test_throttled_job_calls_are_ridden_out(clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint) -> None:
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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
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
        Context(out_of_time=lambda: jobs_created(endpoint) >= 3),
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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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
    clients: Clients, endpoint: DataExchangeEndpoint
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

    # Then the wait after that round is the first wait again, not a longer one
    assert waits == [5, 5, 5]


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_a_revision_skipped_right_before_a_hand_over_is_not_dealt_with_again(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    # Given two revisions, the newer already exported to the destination (its job still running)
    fresh, exported = published(endpoint, 2)
    earlier_export(endpoint, exported, KeyPattern="${Revision.CreatedAt}/${Asset.Name}")
    arn = event_action(endpoint)
    # And an invocation that runs out of time once it has made the older one's job, and skipped the newer
    run(clients, Cursor(DATA_SET, arn), Context(out_of_time=lambda: jobs_created(endpoint) >= 2))

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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint, quota_failures: int, outcome: str
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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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
    clients: Clients, endpoint: DataExchangeEndpoint, monkeypatch: pytest.MonkeyPatch
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
def test_a_short_invocation_hands_over_once_less_than_a_quarter_of_it_is_left(
    clients: Clients, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    # Given an invocation too short for the 120 s margin (it has 390 s when it starts), whose job runs on while
    # each look at the clock spends 10 s
    context = Context(per_poll_ms=10_000, remaining_ms=400_000)

    assert run(clients, Cursor(DATA_SET, arn), context) == "handed over"

    # Then it polls on while a quarter of its time (97.5 s) is left, and hands over at the first look with less
    assert context.remaining_ms == 90_000
    assert len(hand_overs.payloads) == 1


# --- pages --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True)
@pytest.mark.parametrize("latest", [None, 3, 7], ids=["all", "latest-3", "latest-7"])
def test_revisions_listed_in_short_pages_are_all_in_scope(
    clients: Clients, endpoint: DataExchangeEndpoint, latest: int | None
) -> None:
    revisions = published(endpoint, 7)
    arn = event_action(endpoint)

    run(clients, Cursor(DATA_SET, arn, latest=latest))

    expected = revisions[-latest:] if latest else revisions
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in expected]


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True)
def test_a_first_invocation_for_the_latest_n_reads_only_the_pages_that_hold_them(
    clients: Clients, endpoint: DataExchangeEndpoint
) -> None:
    revisions = published(endpoint, 6)
    arn = event_action(endpoint)

    run(clients, Cursor(DATA_SET, arn, latest=2))

    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions[-2:]]
    assert statuses(endpoint, "ListDataSetRevisions") == [200]


@pytest.mark.parametrize("endpoint", [{"job_ticks": None, "page_limit": 2}], indirect=True)
def test_a_hand_over_reads_revisions_only_down_to_the_cursor(
    clients: Clients, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    # Given six revisions, listed newest first two a page, and an invocation that handed over once it had made
    # the third oldest's job: the cursor is at the end of the second page
    revisions = published(endpoint, 6)
    arn = event_action(endpoint)
    run(clients, Cursor(DATA_SET, arn), Context(out_of_time=lambda: jobs_created(endpoint) >= 3), endpoint.end_jobs)
    listed = len(statuses(endpoint, "ListDataSetRevisions"))

    # When the next invocation takes over
    assert run(clients, Cursor.from_payload(hand_overs.payloads[-1]), wait=endpoint.end_jobs) == "completed"

    # Then it reads the two pages down to the cursor, not the third
    assert len(statuses(endpoint, "ListDataSetRevisions")) - listed == 2
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


def test_exports_beyond_the_first_page_of_jobs_count_as_done(endpoint: DataExchangeEndpoint) -> None:
    # Given more auto-exports of the event action than one page of ListJobs holds
    arn = event_action(endpoint)
    exported = [endpoint.publish(DATA_SET, ["new.csv"]).revision["Id"] for _ in range(PAGE + 1)]
    dataexchange = local_client(endpoint.url)
    action = dataexchange.get_event_action(EventActionId=arn.rsplit("/", 1)[1])["Action"]

    done = already_exported(dataexchange, DATA_SET, ExportSettings.of_action(action))

    assert done == set(exported)
    assert statuses(endpoint, "ListJobs") == [200, 200]


# --- what counts as exported already --------------------------------------------------------------------


def earlier_export(endpoint: DataExchangeEndpoint, revision: str, **destination: str) -> None:
    dataexchange = local_client(endpoint.url)
    job = dataexchange.create_job(
        Type="EXPORT_REVISIONS_TO_S3",
        Details={
            "ExportRevisionsToS3": {
                "DataSetId": DATA_SET,
                "RevisionDestinations": [{"Bucket": BUCKET, "RevisionId": revision, **destination}],
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
    clients: Clients, endpoint: DataExchangeEndpoint, earlier: dict[str, str], ours: dict[str, str], skipped: bool
) -> None:
    [revision] = published(endpoint, 1)
    earlier_export(endpoint, revision, **earlier)
    arn = event_action(endpoint, **ours)
    cursor = Cursor(DATA_SET, arn)

    run(clients, cursor)

    assert (cursor.skipped, cursor.exported) == ((1, 0) if skipped else (0, 1))


def test_an_earlier_export_that_failed_does_not_count(clients: Clients, endpoint: DataExchangeEndpoint) -> None:
    [revision] = published(endpoint, 1)
    endpoint.fail_next_export(revision, "S3AccessDenied")
    earlier_export(endpoint, revision, KeyPattern="${Revision.CreatedAt}/${Asset.Name}")
    while endpoint.jobs()[0]["State"] == "IN_PROGRESS":
        local_client(endpoint.url).get_job(JobId=endpoint.jobs()[0]["Id"])
    cursor = Cursor(DATA_SET, event_action(endpoint))

    run(clients, cursor)

    assert (cursor.skipped, cursor.exported) == (0, 1)


def test_auto_exports_of_an_event_action_made_without_a_key_pattern_count_as_done(
    clients: Clients, endpoint: DataExchangeEndpoint
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
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint, hand_overs: HandOvers, fault: Fault
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.inject("GetEventAction", fault)

    with pytest.raises(ClientError, match=r"GetEventAction"):
        run(clients, Cursor(DATA_SET, arn))

    assert (exports(endpoint), aws.bus.events, hand_overs.payloads) == ([], [], [])


@pytest.mark.parametrize("endpoint", HELD, indirect=True)
def test_an_event_action_that_cannot_be_read_before_a_start_is_an_error(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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


def test_the_jobs_export_with_the_event_actions_encryption(clients: Clients, endpoint: DataExchangeEndpoint) -> None:
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
    clients: Clients, endpoint: DataExchangeEndpoint, hand_overs: HandOvers
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)
    payload = Cursor(DATA_SET, arn).to_payload()

    # When each invocation runs out of time while its job runs
    for _ in range(3):
        run(clients, Cursor.from_payload(payload), Context(per_poll_ms=300_000))
        payload = hand_overs.payloads[-1]

    assert [payload["invocation"] for payload in hand_overs.payloads] == [2, 3, 4]
    counts = Backfill(clients, Cursor.from_payload(payload), Context())._counts()
    assert counts == "0 exported, 0 skipped, 0 failed, in 4 invocation(s)"


def test_a_cursor_keeps_its_place_through_the_payload() -> None:
    cursor = Cursor(DATA_SET, "arn", latest=2, oldest=("2026-01-01T00:00:00", "a" * 32), after=("2026-01-02", "b" * 32))

    again = Cursor.from_payload(json.loads(json.dumps(cursor.to_payload())))

    assert again == cursor


def test_an_invocation_that_failed_for_good_is_reported_as_backfill_failed(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
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


def test_a_timed_out_invocation_is_reported_with_the_message_it_left(clients: Clients, aws: OfflineAws) -> None:
    # Given the record of an invocation that timed out each time: its answer has a message but no errorType
    cursor = Cursor(DATA_SET, EVENT_ACTION)
    timed_out = {"errorMessage": "2026-01-01T00:15:00.000Z 6f1c Task timed out after 900.00 seconds"}
    record = failure_record(WORKER, cursor.to_payload(), timed_out, 3)

    assert report_failed_invocation(clients.events, record) == "reported"

    assert end_event(aws)["detail"]["Reason"] == (
        "Invocation 1 of the backfill failed 3 time(s) (RetriesExhausted): "
        "2026-01-01T00:15:00.000Z 6f1c Task timed out after 900.00 seconds"
    )


def test_an_invocation_whose_event_expired_unanswered_is_reported_as_such(clients: Clients, aws: OfflineAws) -> None:
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


def test_the_record_of_a_failed_report_is_dropped_so_nothing_loops(clients: Clients, aws: OfflineAws) -> None:
    # Given the record of a report that failed: its payload is the EventBridge event, not a cursor
    event = {"version": "0", "detail-type": "Lambda Function Invocation Result - Failure", "detail": {}}
    record = failure_record(WORKER, event, {"errorMessage": "Rate exceeded"}, 3)

    assert report_failed_invocation(clients.events, record) == "dropped"
    assert aws.bus.events == []


def test_a_products_backfill_names_the_product_in_its_events(
    clients: Clients, aws: OfflineAws, endpoint: DataExchangeEndpoint
) -> None:
    published(endpoint, 1)
    arn = event_action(endpoint)

    assert run(clients, Cursor(DATA_SET, arn, product_id="prod-uexample0abc1d")) == "completed"

    assert end_event(aws)["resources"] == [arn, "prod-uexample0abc1d"]
