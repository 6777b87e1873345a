"""The backfill worker's functions, with real boto3 clients over HTTP to the offline Data Exchange, Lambda and
EventBridge. Time is the endpoint's (a tick per request) and the context's (the test says how much is left)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dataexchange_auto_export_handler.backfill import Backfill, Clients, Cursor
from dataexchange_auto_export_handler.event_actions import RETRY_CONFIG
from offline.assembly import LambdaFunction
from offline.aws import OfflineAws
from offline.endpoints import LocalDataExchange, local_client
from offline.endpoints.server import client
from offline.lambda_runtime import Execution, LambdaRuntime

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
WORKER = "arn:aws:lambda:us-east-1:123456789012:function:backfill-worker"
BUCKET = "destination-bucket"


class HandOvers(LambdaRuntime):
    """Lambda's side of the worker invoking itself: the payloads, kept for the test to run next."""

    def __init__(self) -> None:
        super().__init__(Path(sys.executable), {})
        self.payloads: list[dict[str, Any]] = []

    def invoke(
        self,
        function: LambdaFunction,
        function_arn: str,
        event: Mapping[str, Any],
        environment: Mapping[str, str] | None = None,
    ) -> Execution:
        self.payloads.append(dict(event))
        return Execution("", {}, 0.0)


class Context:
    """A Lambda context with 15 minutes, of which each look at the time (a poll round) spends `per_poll_ms`."""

    invoked_function_arn = WORKER

    def __init__(self, per_poll_ms: int = 0) -> None:
        self.remaining_ms, self.per_poll_ms = 900_000, per_poll_ms

    def get_remaining_time_in_millis(self) -> int:
        self.remaining_ms -= self.per_poll_ms
        return self.remaining_ms


@pytest.fixture
def hand_overs(aws: OfflineAws) -> HandOvers:
    runtime = HandOvers()
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


def event_action(endpoint: LocalDataExchange, **destination: str) -> str:
    """The event action the backfill serves, made after the revisions the tests publish before it."""
    created = local_client(endpoint.url).create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": BUCKET, **destination}}},
        Event={"RevisionPublished": {"DataSetId": DATA_SET}},
    )
    return created["Arn"]


def published(endpoint: LocalDataExchange, count: int, **state: bool) -> list[str]:
    return [endpoint.add_revision(DATA_SET, [f"file-{n}.csv"], **state)["Id"] for n in range(count)]


def run(clients: Clients, cursor: Cursor, context: Context | None = None) -> str:
    return Backfill(clients, cursor, context or Context(), sleep=lambda seconds: None).run()


def exports(endpoint: LocalDataExchange) -> list[tuple[str, str]]:
    """(revision, state) of every export job the backfill made, in the order it made them."""
    made = [job for job in endpoint.jobs() if "EventActionArn" not in job["Details"]["ExportRevisionsToS3"]]
    made.sort(key=lambda job: job["CreatedAt"])
    return [
        (job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"], job["State"]) for job in made
    ]


def end_event(aws: OfflineAws) -> dict[str, Any]:
    [event] = aws.bus.events
    assert event["source"] == "cdk-dataexchange-auto-export"
    return event


def test_all_exports_each_finalized_unrevoked_revision_once_oldest_first(
    clients: Clients, aws: OfflineAws, endpoint: LocalDataExchange
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
    clients: Clients, endpoint: LocalDataExchange
) -> None:
    revisions = published(endpoint, 5)
    arn = event_action(endpoint)

    run(clients, Cursor(DATA_SET, arn, latest=2))

    assert exports(endpoint) == [(revisions[3], "COMPLETED"), (revisions[4], "COMPLETED")]
    pattern = endpoint.jobs()[0]["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["KeyPattern"]
    assert pattern == "${Revision.CreatedAt}/${Asset.Name}"  # passed on: a manual job's default differs


def test_revisions_published_after_the_event_action_are_its_own(clients: Clients, endpoint: LocalDataExchange) -> None:
    before = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.publish(DATA_SET, ["new.csv"])  # auto-exported by the event action

    run(clients, Cursor(DATA_SET, arn))

    assert exports(endpoint) == [(before[0], "COMPLETED")]


def test_a_revision_already_exported_to_the_destination_is_skipped_and_a_second_run_exports_nothing(
    clients: Clients, aws: OfflineAws, endpoint: LocalDataExchange
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
def test_at_most_two_jobs_run_and_a_full_quota_is_waited_out(clients: Clients, endpoint: LocalDataExchange) -> None:
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
    assert max(ticks.count(tick) for tick in set(ticks)) <= 2


def test_a_failed_job_is_reported_with_its_code_and_the_rest_exported(
    clients: Clients, aws: OfflineAws, endpoint: LocalDataExchange
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
    clients: Clients, aws: OfflineAws, endpoint: LocalDataExchange
) -> None:
    [revision] = published(endpoint, 1)
    arn = event_action(endpoint)
    endpoint.fail_next_export(revision, "QuotaExceeded")

    assert run(clients, Cursor(DATA_SET, arn)) == "completed"

    assert exports(endpoint) == [(revision, "ERROR"), (revision, "COMPLETED")]
    assert end_event(aws)["detail"]["Exported"] == 1


def test_hand_overs_carry_a_small_cursor_and_export_nothing_twice(
    clients: Clients, aws: OfflineAws, endpoint: LocalDataExchange, hand_overs: HandOvers
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
        aws.lambda_.wait()  # Lambda queues the hand-over: it reaches the runtime on a thread of its own
        payload = hand_overs.payloads[-1]
        assert len(json.dumps(payload)) < 1024

    assert len(outcomes) > 2 and outcomes[-1] == "completed"
    assert exports(endpoint) == [(revision, "COMPLETED") for revision in revisions]
    assert end_event(aws)["detail"]["Exported"] == 12


def test_the_worker_stops_when_the_event_action_is_gone(
    clients: Clients, aws: OfflineAws, endpoint: LocalDataExchange
) -> None:
    published(endpoint, 3)
    arn = event_action(endpoint)
    local_client(endpoint.url).delete_event_action(EventActionId=arn.rsplit("/", 1)[1])

    assert run(clients, Cursor(DATA_SET, arn)) == "stopped"

    assert exports(endpoint) == []
    assert aws.bus.events == []
