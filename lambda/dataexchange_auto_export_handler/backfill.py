"""Export the revisions published before an event action existed: plain functions over boto3 clients.

An event action exports only revisions published after it exists. The backfill exports the others
(CreatedAt up to the event action's own), oldest first, one EXPORT_REVISIONS_TO_S3 job per revision,
to the event action's bucket, key pattern and encryption, skipping every revision that already has a
COMPLETED or IN_PROGRESS export job to that bucket and pattern. It keeps at most MAX_IN_FLIGHT jobs
running (the account's 5 concurrent export jobs are shared with auto-export and everyone else),
waits out a full quota, hands over to a fresh invocation of its function before its own runs out
(the hand-over payload is a cursor), stops when the event action is gone, and ends with an
EventBridge event. Nothing here fails a deployment: the worker runs on its own, after it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .clients import Clients
from .contract import BACKFILL_FUNCTION_VARIABLE, Detail, DetailType
from .event_bus import put_event
from .export_settings import ExportSettings

if TYPE_CHECKING:
    from mypy_boto3_dataexchange import DataExchangeClient
    from mypy_boto3_dataexchange.type_defs import (
        GetEventActionResponseTypeDef,
        GetJobResponseTypeDef,
        RevisionEntryTypeDef,
    )
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 2
# Hand over with this much of the invocation left (a quarter of it at most): enough for the hand-over
# and a last poll.
HANDOVER_MARGIN_MS = 120_000
# A StartJob refused for the quota, or a job ended by it, is tried again this many times in all.
ATTEMPTS_PER_REVISION = 5
# The end event lists this many failures at most, each with its job's first ERRORS_PER_FAILURE errors,
# messages cut to MESSAGE_LENGTH characters: an event may hold 1 MB, a hand-over payload too, and a job
# may have an error per asset.
LISTED_FAILURES = 50
ERRORS_PER_FAILURE = 3
MESSAGE_LENGTH = 256
PAGE = 200  # the most ListDataSetRevisions and ListJobs return at once
# A StartJob refused for these waits for the next poll round. A ConflictException is not among them: it
# means the job is no longer WAITING (started by an earlier attempt whose answer was lost).
_BUSY = ("ServiceLimitExceededException", "ThrottlingException", "TooManyRequestsException")
_RUNNING_OR_DONE = ("IN_PROGRESS", "COMPLETED")


class LambdaContext(Protocol):
    invoked_function_arn: str

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass
class Cursor:
    """Where a backfill stands: the whole state a hand-over carries, whatever the data set's size."""

    data_set_id: str
    event_action_arn: str
    latest: int | None = None  # the newest n revisions, or None for all
    oldest: tuple[str, str] | None = None  # (CreatedAt, Id) of the oldest revision in scope, fixed at the start
    after: tuple[str, str] | None = None  # (CreatedAt, Id) of the newest revision dealt with so far
    in_flight: list[dict[str, Any]] = field(default_factory=list)  # {JobId, RevisionId, Attempt, Started}
    retry: list[dict[str, Any]] = field(default_factory=list)  # {RevisionId, Attempt}: ended by the quota
    exported: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)  # {RevisionId, Errors}, at most LISTED_FAILURES
    invocation: int = 1
    product_id: str | None = None  # the product whose data set this is, for a product's construct

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Cursor:
        cursor = cls(**payload)
        cursor.oldest = tuple(cursor.oldest) if cursor.oldest else None  # type: ignore[assignment]
        cursor.after = tuple(cursor.after) if cursor.after else None  # type: ignore[assignment]
        return cursor

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)


def _position(revision: RevisionEntryTypeDef) -> tuple[str, str]:
    """Where a revision stands in publication order: comparable as strings, and small enough for a cursor."""
    created: datetime = revision["CreatedAt"]
    return created.isoformat(timespec="microseconds"), revision["Id"]


def revisions_in_scope(dataexchange: DataExchangeClient, cursor: Cursor, until: datetime) -> list[RevisionEntryTypeDef]:
    """The finalized, unrevoked revisions still to deal with, oldest first: published no later than
    `until`, within the newest `latest` (fixed, as `cursor.oldest`, on the first call), and after
    `cursor.after`. The listing comes newest first and stops once it reaches what is done."""
    found: list[RevisionEntryTypeDef] = []
    floor = cursor.after or cursor.oldest
    # botocore's paginator asks for the next page only when the loop gets there.
    pages = dataexchange.get_paginator("list_data_set_revisions").paginate(
        DataSetId=cursor.data_set_id, PaginationConfig={"PageSize": PAGE}
    )
    for listed in pages:
        page = listed["Revisions"]
        found += [r for r in page if r["CreatedAt"] <= until and r.get("Finalized") and not r.get("Revoked")]
        if page and floor is not None and _position(page[-1]) <= floor:
            break
        if cursor.oldest is None and cursor.latest is not None and len(found) >= cursor.latest:
            break
    found.sort(key=_position)
    if cursor.oldest is None:
        in_scope = found[-cursor.latest :] if cursor.latest is not None else found
        cursor.oldest = _position(in_scope[0]) if in_scope else None
    if cursor.oldest is None:
        return []
    oldest = cursor.oldest
    return [r for r in found if _position(r) >= oldest and (cursor.after is None or _position(r) > cursor.after)]


def already_exported(dataexchange: DataExchangeClient, data_set_id: str, destination: ExportSettings) -> set[str]:
    """Revisions with a completed or running export job to the destination: the data set's jobs read once
    (the service keeps them 90 days), not once per revision. The event action's own auto-exports count."""
    exported: set[str] = set()
    pages = dataexchange.get_paginator("list_jobs").paginate(DataSetId=data_set_id, PaginationConfig={"PageSize": PAGE})
    for page in pages:
        for job in page["Jobs"]:
            if job["Type"] == "EXPORT_REVISIONS_TO_S3" and job["State"] in _RUNNING_OR_DONE:
                exported.update(destination.receives(job))
    return exported


class Backfill:
    """One invocation's share of a backfill. `sleep` and the context's remaining time pace it."""

    def __init__(
        self, clients: Clients, cursor: Cursor, context: LambdaContext, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.clients = clients
        self.cursor = cursor
        self.context = context
        self.sleep = sleep
        # How long to wait before polling jobs again at first; it grows to a minute while nothing changes.
        self.poll_seconds = float(os.environ.get("BACKFILL_POLL_SECONDS", "5"))
        self.margin_ms = min(HANDOVER_MARGIN_MS, context.get_remaining_time_in_millis() // 4)

    def run(self) -> str:
        """Works until the backfill is done ("completed" or "failed", with its event sent), the invocation
        is nearly over ("handed over" to a new one), or the event action is gone ("stopped")."""
        cursor, dataexchange = self.cursor, self.clients.dataexchange
        event_action = self._event_action()
        if event_action is None:
            return self._stop()
        destination = ExportSettings.of_action(event_action["Action"])
        done = already_exported(dataexchange, cursor.data_set_id, destination)
        fresh = deque(revisions_in_scope(dataexchange, cursor, event_action["CreatedAt"]))
        while True:
            # What is already exported is passed by without waiting for a slot; what is taken is not
            # forgotten until its job exists: a retry stays in the cursor, a fresh one ahead of `after`.
            while fresh and fresh[0]["Id"] in done:
                skipped = fresh.popleft()
                cursor.skipped += 1
                cursor.after = _position(skipped)
                logger.info("Revision %s: skipped, already exported to s3://%s", skipped["Id"], destination.bucket)
            if not fresh and not cursor.retry:
                if not cursor.in_flight:
                    return self._finish()
                if not self._poll():
                    return self._hand_over()
                continue
            if not self._slot_free():
                return self._hand_over()
            if self._event_action() is None:
                return self._stop()
            # A retry first: the quota it met has ended a job since (polling may have added one).
            if cursor.retry:
                retry = cursor.retry.pop(0)
                self._start(retry["RevisionId"], retry["Attempt"], destination)
            else:
                revision = fresh.popleft()
                self._start(revision["Id"], 1, destination)
                cursor.after = _position(revision)

    # --- the jobs ------------------------------------------------------------------------------

    def _start(self, revision_id: str, attempt: int, destination: ExportSettings) -> None:
        export = destination.export_job(self.cursor.data_set_id, revision_id)
        job = self.clients.dataexchange.create_job(
            Type="EXPORT_REVISIONS_TO_S3", Details={"ExportRevisionsToS3": export}
        )
        self.cursor.in_flight.append(
            {"JobId": job["Id"], "RevisionId": revision_id, "Attempt": attempt, "Started": False}
        )
        logger.info("Revision %s: export job %s created (attempt %d)", revision_id, job["Id"], attempt)

    def _slot_free(self) -> bool:
        """Polls until fewer than MAX_IN_FLIGHT jobs run and every job is started; False when out of time."""
        while len(self.cursor.in_flight) >= MAX_IN_FLIGHT or any(not job["Started"] for job in self.cursor.in_flight):
            if not self._poll():
                return False
        return True

    def _poll(self) -> bool:
        """One round: start what waits, read what runs; waits with backoff while nothing changes. False when
        the invocation must hand over instead."""
        delay = self.poll_seconds
        while True:
            if self.context.get_remaining_time_in_millis() < self.margin_ms:
                return False
            if self._advance():
                return True
            self.sleep(delay)
            delay = min(delay * 1.5, 60)

    def _advance(self) -> bool:
        """Whether anything changed: a job started, or one ended."""
        changed = False
        for job in list(self.cursor.in_flight):
            if not job["Started"]:
                changed |= self._try_start(job)
                continue
            state = self.clients.dataexchange.get_job(JobId=job["JobId"])
            # A started job never goes back to WAITING.
            if state["State"] == "IN_PROGRESS":
                continue
            self.cursor.in_flight.remove(job)
            self._ended(job, state)
            changed = True
        return changed

    def _try_start(self, job: dict[str, Any]) -> bool:
        try:
            self.clients.dataexchange.start_job(JobId=job["JobId"])
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "ConflictException":
                return self._started_before(job)
            if code not in _BUSY:
                raise
            logger.info("Revision %s: waiting, the export quota is in use (%s)", job["RevisionId"], error)
            return False
        job["Started"] = True
        return True

    def _started_before(self, job: dict[str, Any]) -> bool:
        """A StartJob in conflict: the job left WAITING already, so it is followed in the state it is in."""
        state = self.clients.dataexchange.get_job(JobId=job["JobId"])
        logger.info("Revision %s: job %s was started already: %s", job["RevisionId"], job["JobId"], state["State"])
        if state["State"] == "WAITING":
            return False
        if state["State"] == "IN_PROGRESS":
            job["Started"] = True
        else:
            self.cursor.in_flight.remove(job)
            self._ended(job, state)
        return True

    def _ended(self, job: dict[str, Any], state: GetJobResponseTypeDef) -> None:
        cursor, revision_id = self.cursor, job["RevisionId"]
        errors = [
            {"Code": error["Code"], "Message": error["Message"][:MESSAGE_LENGTH]} for error in state.get("Errors", [])
        ]
        if state["State"] == "COMPLETED":
            cursor.exported += 1
            logger.info("Revision %s: exported by job %s", revision_id, job["JobId"])
        elif (
            any(e["Code"] == "SERVICE_QUOTA_EXCEEDED_EXCEPTION" for e in errors)
            and job["Attempt"] < ATTEMPTS_PER_REVISION
        ):
            cursor.retry.append({"RevisionId": revision_id, "Attempt": job["Attempt"] + 1})
            logger.info("Revision %s: job %s hit the export quota; trying again", revision_id, job["JobId"])
        else:
            cursor.failed += 1
            if len(cursor.failures) < LISTED_FAILURES:
                cursor.failures.append({"RevisionId": revision_id, "Errors": errors[:ERRORS_PER_FAILURE]})
            logger.warning("Revision %s: job %s ended %s: %s", revision_id, job["JobId"], state["State"], errors)

    # --- the ends ------------------------------------------------------------------------------

    def _event_action(self) -> GetEventActionResponseTypeDef | None:
        try:
            found = self.clients.dataexchange.get_event_action(
                EventActionId=self.cursor.event_action_arn.rsplit("/", 1)[1]
            )
        except self.clients.dataexchange.exceptions.ResourceNotFoundException:
            return None
        return found

    def _hand_over(self) -> str:
        self.cursor.invocation += 1
        self.clients.lambda_.invoke(
            FunctionName=self.context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps(self.cursor.to_payload()).encode(),
        )
        logger.info("Handed over to invocation %d: %s", self.cursor.invocation, self._counts())
        return "handed over"

    def _stop(self) -> str:
        """The event action is gone (the stack was deleted or replaced): nothing to export for any more."""
        logger.info("Stopped: event action %s no longer exists; %s", self.cursor.event_action_arn, self._counts())
        return "stopped"

    def _finish(self) -> str:
        outcome = report(self.clients.events, self.cursor)
        logger.info("%s: %s", outcome, self._counts())
        return "failed" if self.cursor.failed else "completed"

    def _counts(self) -> str:
        cursor = self.cursor
        counts = f"{cursor.exported} exported, {cursor.skipped} skipped, {cursor.failed} failed"
        return f"{counts}, in {cursor.invocation} invocation(s)"


def report(events: EventBridgeClient, cursor: Cursor, reason: str | None = None) -> str:
    """The backfill's end event on the default bus: `Backfill Completed`, or `Backfill Failed` when a revision
    failed or the backfill itself did (`reason`). It carries `DataSetIds` and `RevisionIds` as Data Exchange's
    own events do, so the same rules and message serve both; `resources` name the event action (and the
    product, for a product's). Revisions still in flight or waiting for a retry are listed too: only a backfill
    that itself failed (`reason`) leaves any."""
    unfinished = [job["RevisionId"] for job in cursor.in_flight] + [entry["RevisionId"] for entry in cursor.retry]
    detail: dict[str, Any] = {
        Detail.DATA_SET_ID: cursor.data_set_id,
        "EventActionArn": cursor.event_action_arn,
        "Exported": cursor.exported,
        "Skipped": cursor.skipped,
        "Failed": cursor.failed,
        "Failures": cursor.failures,
        "FailuresNotListed": cursor.failed - len(cursor.failures),
        Detail.DATA_SET_IDS: [cursor.data_set_id],
        Detail.REVISION_IDS: [failure["RevisionId"] for failure in cursor.failures] + unfinished,
    }
    if reason is not None:
        detail[Detail.REASON] = reason
    failed = cursor.failed or reason is not None
    outcome = DetailType.BACKFILL_FAILED if failed else DetailType.BACKFILL_COMPLETED
    resources = [cursor.event_action_arn, *([cursor.product_id] if cursor.product_id else [])]
    put_event(events, outcome, detail, resources)
    return outcome


def report_failed_invocation(events: EventBridgeClient, record: dict[str, Any]) -> str:
    """Lambda's record of a worker invocation that failed for good (an unhandled error, a timeout, an
    out-of-memory kill, after its retries; or an event too old to run) reported as `Backfill Failed`, from the
    cursor it was given.
    A record of anything else (the failure of such a report) is logged and dropped: no loop."""
    try:
        cursor = Cursor.from_payload(record["requestPayload"])
    except (KeyError, TypeError) as unreadable:
        logger.error("Dropped the record of a failed invocation that carried no backfill cursor: %s", unreadable)
        return "dropped"
    # requestContext and its members are always in the record; the last attempt's answer is not: an event that
    # expired in the queue was never answered, and a timeout's answer may have a message but no errorType.
    context, answer = record["requestContext"], record.get("responsePayload") or {}
    error = ": ".join(answer[key] for key in ("errorType", "errorMessage") if key in answer)
    reason = (
        f"Invocation {cursor.invocation} of the backfill failed {context['approximateInvokeCount']} "
        f"time(s) ({context['condition']}): {error or 'the function gave no answer'}"
    )[:MESSAGE_LENGTH]
    outcome = report(events, cursor, reason)
    logger.error("%s for data set %s: %s", outcome, cursor.data_set_id, reason)
    return "reported"


def start(clients: Clients, cursor: Cursor) -> None:
    """Starts the worker on a backfill, asynchronously: the stack never waits for it. Whatever happens, the stack
    goes on; the worker reports its outcome itself, as an EventBridge event."""
    try:
        clients.lambda_.invoke(
            FunctionName=os.environ[BACKFILL_FUNCTION_VARIABLE],
            InvocationType="Event",
            Payload=json.dumps(cursor.to_payload()).encode(),
        )
    except (ClientError, BotoCoreError, KeyError) as error:
        logger.error("Existing revisions of %s will not be exported: %s", cursor.data_set_id, error)
        return
    scope = "all" if cursor.latest is None else f"the newest {cursor.latest}"
    logger.info("Exporting %s existing revisions of %s in the background", scope, cursor.data_set_id)
