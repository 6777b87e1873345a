"""The local Data Exchange behaving like a service under load, on request: answers lost after the work,
conflicts and throttling on jobs, short pages, a lagging list, jobs that end together on the test's
clock, and auto-export jobs holding slots of the concurrent-export quota."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config

from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault, local_client
from cdk_dataexchange_auto_export.local.endpoints.dataexchange_jobs import CONCURRENT_EXPORTS
from cdk_dataexchange_auto_export.local.endpoints.server import DROPPED

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
TWO_ATTEMPTS = Config(retries={"mode": "standard", "total_max_attempts": 2})


@pytest.fixture
def client(endpoint: DataExchangeEndpoint) -> Any:
    return local_client(endpoint.url, config=ONE_ATTEMPT)


def outcomes(endpoint: DataExchangeEndpoint, operation: str) -> list[int]:
    return [call.status for call in endpoint.calls if call.operation == operation]


def export_job(client: Any, revision_id: str, bucket: str = "destination-bucket") -> str:
    destination = {"Bucket": bucket, "RevisionId": revision_id}
    job = client.create_job(
        Type="EXPORT_REVISIONS_TO_S3",
        Details={"ExportRevisionsToS3": {"DataSetId": DATA_SET, "RevisionDestinations": [destination]}},
    )
    return str(job["Id"])


def revision(endpoint: DataExchangeEndpoint) -> str:
    return str(endpoint.add_revision(DATA_SET, ["file.csv"])["Id"])


def states(client: Any, job_ids: list[str]) -> list[str]:
    return [client.get_job(JobId=job_id)["State"] for job_id in job_ids]


def test_a_lost_answer_is_a_500_after_the_work_was_done(client: Any, endpoint: DataExchangeEndpoint) -> None:
    endpoint.inject("CreateEventAction", Fault("lost_answer"))

    with pytest.raises(client.exceptions.InternalServerException, match="performed but its answer was lost"):
        client.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "destination-bucket"}}},
            Event={"RevisionPublished": {"DataSetId": DATA_SET}},
        )

    assert len(endpoint.event_actions()) == 1
    assert outcomes(endpoint, "CreateEventAction") == [500]


@pytest.mark.usefixtures("no_retry_sleep")
def test_a_dropped_connection_after_a_start_makes_the_retry_a_conflict(endpoint: DataExchangeEndpoint) -> None:
    # Given a job, and a StartJob whose connection is dropped once the job is started
    client = local_client(endpoint.url, config=TWO_ATTEMPTS)
    job_id = export_job(client, revision(endpoint))
    endpoint.inject("StartJob", Fault("lost_answer", drop_connection=True))

    # When botocore retries the call it got no answer to
    with pytest.raises(client.exceptions.ConflictException, match="only a WAITING job starts"):
        client.start_job(JobId=job_id)

    # Then the first attempt had started the job
    assert outcomes(endpoint, "StartJob") == [DROPPED.status, 409]
    assert states(client, [job_id]) == ["IN_PROGRESS"]


def test_conflict_and_throttling_on_jobs_are_answered_instead_of_the_work(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    revision_id = revision(endpoint)
    endpoint.inject("CreateJob", Fault("conflict"))
    endpoint.inject("StartJob", Fault("throttle"))

    with pytest.raises(client.exceptions.ConflictException):
        export_job(client, revision_id)
    job_id = export_job(client, revision_id)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.start_job(JobId=job_id)

    assert [job["Id"] for job in endpoint.jobs()] == [job_id]
    assert states(client, [job_id]) == ["WAITING"]
    assert outcomes(endpoint, "CreateJob") == [409, 201]


def test_drop_connection_is_only_for_a_lost_answer() -> None:
    with pytest.raises(ValueError, match="drop_connection only applies to a 'lost_answer' fault"):
        Fault("internal", drop_connection=True)


@pytest.mark.parametrize("endpoint", [{"page_limit": 2}], indirect=True)
def test_pages_hold_at_most_the_page_limit_whatever_max_results_asks(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    revisions = [revision(endpoint) for _ in range(5)]

    first = client.list_data_set_revisions(DataSetId=DATA_SET, MaxResults=200)
    pages = list(
        client.get_paginator("list_data_set_revisions").paginate(DataSetId=DATA_SET, PaginationConfig={"PageSize": 200})
    )

    assert len(first["Revisions"]) == 2 and "NextToken" in first
    assert [len(page["Revisions"]) for page in pages] == [2, 2, 1]
    assert [entry["Id"] for page in pages for entry in page["Revisions"]] == revisions[::-1]


@pytest.mark.parametrize("endpoint", [{"list_lag": 2}], indirect=True)
def test_a_new_event_action_is_listed_only_after_the_lag(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = client.create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "destination-bucket"}}},
        Event={"RevisionPublished": {"DataSetId": DATA_SET}},
    )

    listed = [
        [entry["Id"] for entry in client.list_event_actions(EventSourceId=DATA_SET)["EventActions"]] for _ in range(3)
    ]

    assert listed == [[], [], [created["Id"]]]
    assert client.get_event_action(EventActionId=created["Id"])["Id"] == created["Id"]  # read at once


@pytest.mark.parametrize("endpoint", [{"job_ticks": None}], indirect=True)
def test_held_jobs_run_until_the_test_ends_them_all_at_once(client: Any, endpoint: DataExchangeEndpoint) -> None:
    revisions = [revision(endpoint) for _ in range(3)]
    endpoint.fail_next_export(revisions[1], "MalwareDetected")
    jobs = [export_job(client, revision_id) for revision_id in revisions]
    for job_id in jobs:
        client.start_job(JobId=job_id)

    before = [states(client, jobs) for _ in range(20)]
    ended = endpoint.end_jobs()

    assert before == [["IN_PROGRESS"] * 3] * 20
    assert ended == 3
    assert states(client, jobs) == ["COMPLETED", "ERROR", "COMPLETED"]

    # And a clock of ticks again from then on
    endpoint.job_ticks = 1
    later = export_job(client, revision(endpoint))
    client.start_job(JobId=later)
    assert states(client, [later]) == ["COMPLETED"]


def test_a_failure_planned_for_several_exports_fails_each_in_turn(client: Any, endpoint: DataExchangeEndpoint) -> None:
    revision_id = revision(endpoint)
    endpoint.fail_next_export(revision_id, "QuotaExceeded", times=2)

    ended = []
    for _ in range(3):
        job_id = export_job(client, revision_id)
        client.start_job(JobId=job_id)
        while (state := states(client, [job_id])[0]) == "IN_PROGRESS":
            pass
        ended.append(state)

    assert ended == ["ERROR", "ERROR", "COMPLETED"]


def test_auto_export_jobs_in_progress_hold_slots_of_the_concurrent_export_quota() -> None:
    sent: list[dict[str, Any]] = []
    with DataExchangeEndpoint(job_ticks=None, events=sent.append) as endpoint:
        client = local_client(endpoint.url, config=ONE_ATTEMPT)
        client.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "destination-bucket"}}},
            Event={"RevisionPublished": {"DataSetId": DATA_SET}},
        )

        # When the provider publishes more revisions than the quota runs at once
        published = [endpoint.publish(DATA_SET, ["f.csv"], in_progress=True) for _ in range(CONCURRENT_EXPORTS + 1)]

        # Then five run, the sixth ends in ERROR for the quota at once, and a manual export must wait
        assert [publication.jobs[0]["State"] for publication in published] == ["IN_PROGRESS"] * 5 + ["ERROR"]
        assert [event["detail-type"] for event in sent] == ["Auto-export Job Failed"]
        job_id = export_job(client, revision(endpoint))
        with pytest.raises(client.exceptions.ServiceLimitExceededException):
            client.start_job(JobId=job_id)

        # And once they end, their events are sent and the slots are free
        assert endpoint.end_jobs() == 5
        assert [event["detail-type"] for event in sent[1:]] == ["Auto-export Job Completed"] * 5
        client.start_job(JobId=job_id)
