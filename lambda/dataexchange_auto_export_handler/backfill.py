"""Export the revisions published before an event action existed: plain functions over boto3 clients.

An event action exports only revisions published after it exists. The backfill exports the others
(CreatedAt up to the event action's own), oldest first, one EXPORT_REVISIONS_TO_S3 job per revision,
to the event action's bucket, key pattern and encryption, skipping every revision that already has a
COMPLETED or IN_PROGRESS export job to that bucket and pattern. It keeps at most MAX_IN_FLIGHT jobs
running (the account's 5 concurrent export jobs are shared with auto-export and everyone else),
waits out a full quota, hands over to a fresh invocation of its function before its own runs out
(the hand-over payload is a cursor), and ends with an EventBridge event. Nothing here fails a
deployment: the worker runs on its own, after it.

A chain of hand-overs recurses by design, so the function allows it (`RecursiveLoop: Allow`) and the chain
carries the guard rails Lambda's loop detection would otherwise give (CONTRIBUTING, "The backfill's chain"):
- a chain that deals with no revision in IDLE_INVOCATIONS invocations in a row ends with `Backfill Failed`;
- a chain ends when its event action is gone, its stack is deleted, or a newer backfill of the same event action
  has started;
- a hand-over that Lambda delivers twice does not fork the chain.
The last two rest on the event action's BACKFILL_TAG, `<chain>:<invocation>:<token>` (`Claim`): `start` writes a
new chain's id (ids grow with time, so the newer of two chains is known) for its invocation 1; each invocation
claims the tag with a token of its own, and names the next invocation in it when it hands over or ends. A
delivery that finds a newer chain, or a later invocation, stops; one that finds another claim of its own
invocation takes over when it starts (a retry after a failed attempt, or a copy that arrived late) and stops
when it finds one later (the other took over). Data Exchange has no conditional write, so two deliveries of one
invocation at the same moment can both work until the next look at the tag, before the next job: at most a job
each, exporting the same revision twice, which writes the same objects again.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .backfill_chain import Claim, Cursor, new_chain
from .clients import Clients
from .contract import BACKFILL_FUNCTION_VARIABLE, WORKER_STACK_VARIABLE, Detail, DetailType
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
# IAM's changes reach Lambda seconds after the deploy that made them, sometimes a minute or more: an export that
# the service denies the caller in the backfill's first minutes (a statement for a new bucket or key) is tried
# again every ACCESS_DENIED_RETRY_SECONDS until then, and only reported after.
ACCESS_DENIED_GRACE_SECONDS = 300
ACCESS_DENIED_RETRY_SECONDS = 30
# A chain that deals with no revision (exported, skipped or failed) in this many invocations in a row ends: about
# five hours of invocations that wait (13 minutes each), far beyond any export job's time, and few enough
# invocations that a loop that hands over at once stops within seconds.
IDLE_INVOCATIONS = 24
# The end event lists this many failures at most, each with its job's first ERRORS_PER_FAILURE errors,
# messages cut to MESSAGE_LENGTH characters: an event may hold 1 MB, a hand-over payload too, and a job
# may have an error per asset.
LISTED_FAILURES = 50
ERRORS_PER_FAILURE = 3
MESSAGE_LENGTH = 256
PAGE = 200  # the most ListDataSetRevisions and ListJobs return at once
# Revisions taken from one listing, carried in the cursor until dealt with (ids of at most 40 characters: a few
# KB): the listing comes newest first and the backfill goes oldest first, so each listing reads every page
# newer than the cursor, and a long chain should list seldom, not once per invocation.
AHEAD = PAGE
# Polling. Until a job has been seen to end, the wait starts at BACKFILL_POLL_SECONDS and grows by half to
# MAX_POLL_SECONDS; after, the worker sleeps until a step before a job is due by the job time seen so far
# (JOB_TIME_WEIGHT: how much the latest job counts), a step being a twentieth of it (at least MIN_STEP_SECONDS),
# then reads it every step: a slot stands idle after its job for half a step on average (a fortieth of a job's
# time), and a job is read two or three times. Export jobs take from tens of seconds to many minutes, so a fixed
# wait is either too long for short jobs or too many reads for long ones.
MAX_POLL_SECONDS = 60.0
MIN_STEP_SECONDS = 1.0
STEPS_PER_JOB = 20
JOB_TIME_WEIGHT = 0.25
# A StartJob refused for these waits for the next poll round. A ConflictException is not among them: it
# means the job is no longer WAITING (started by an earlier attempt whose answer was lost).
_BUSY = ("ServiceLimitExceededException", "ThrottlingException", "TooManyRequestsException")
_RUNNING_OR_DONE = ("IN_PROGRESS", "COMPLETED")
# A started job ends in one of these; it may read WAITING for a while after StartJob, then IN_PROGRESS.
_ENDED = ("COMPLETED", "ERROR", "CANCELLED", "TIMED_OUT")
# Quotas a job error may name that pass as other jobs end; any other it names (assets per revision, asset
# size) is the revision's own and will not pass. An error that names none is taken as the concurrency quota.
_PASSING_QUOTA = "Concurrent "
# A CreateJob refused for these concerns the revision (revoked, or no longer listed since it was taken).
_REVISION_GONE = ("ValidationException", "ResourceNotFoundException")


class LambdaContext(Protocol):
    invoked_function_arn: str

    def get_remaining_time_in_millis(self) -> int: ...


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


def exported_before(
    dataexchange: DataExchangeClient, data_set_id: str, revision_id: str, destination: ExportSettings
) -> bool:
    """Whether the revision has a completed or running export job to the destination (the service keeps jobs 90
    days). The event action's own auto-exports count. One revision's jobs, read when the backfill comes to it:
    reading all the data set's jobs would cost each invocation of a long chain pages of jobs."""
    pages = dataexchange.get_paginator("list_jobs").paginate(
        DataSetId=data_set_id, RevisionId=revision_id, PaginationConfig={"PageSize": PAGE}
    )
    return any(
        job["Type"] == "EXPORT_REVISIONS_TO_S3"
        and job["State"] in _RUNNING_OR_DONE
        and revision_id in destination.receives(job)
        for page in pages
        for job in page["Jobs"]
    )


class Backfill:
    """One invocation's share of a backfill. `sleep` and `clock` (seconds since the epoch) are its time, and the
    context's remaining time its end."""

    def __init__(
        self,
        clients: Clients,
        cursor: Cursor,
        context: LambdaContext,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.cursor = cursor
        self.context = context
        self.sleep = sleep
        self.clock = clock
        self.poll_seconds = float(os.environ.get("BACKFILL_POLL_SECONDS", "5"))
        # No shorter than the first wait where that is shorter: the offline kit's jobs last requests, not seconds.
        self.min_step = min(MIN_STEP_SECONDS, self.poll_seconds)
        self.margin_ms = min(HANDOVER_MARGIN_MS, context.get_remaining_time_in_millis() // 4)
        self.claim = Claim(cursor.chain, cursor.invocation, uuid.uuid4().hex[:12])
        self._dealt_with = cursor.dealt_with
        self._listed_all = False  # the listing has nothing more in scope

    def run(self) -> str:
        """Works until the backfill is done ("completed" or "failed", with its event sent), the invocation
        is nearly over ("handed over" to a new one), or the chain must end ("stopped", see the module)."""
        cursor = self.cursor
        if cursor.started is None:
            cursor.started = self.clock()
        event_action = self._event_action()
        if event_action is None:
            return self._stop(f"event action {cursor.event_action_arn} no longer exists")
        ended = self._stack_gone() or self._ended_by(Claim.read(event_action), starting=True)
        if ended is not None:
            return self._stop(ended)
        destination = ExportSettings.of_action(event_action["Action"])
        until = event_action["CreatedAt"]
        while True:
            if self._due_retry() is None and self._fresh(destination, until) is None:
                if not cursor.in_flight and not cursor.retry:
                    return self._finish()
                if not self._poll():
                    return self._hand_over()
                continue
            if not self._slot_free():
                return self._hand_over()
            ended = self._standing()
            if ended is not None:
                return self._stop(ended)
            # A retry first: the quota it met has ended a job since, or the time it waits for has come.
            retry = self._due_retry()
            if retry is not None:
                cursor.retry.remove(retry)
                self._start(retry["RevisionId"], retry["Attempt"], destination)
            elif cursor.ahead:
                self._start(cursor.ahead.pop(0), 1, destination)

    # --- what to export next --------------------------------------------------------------------

    def _due_retry(self) -> dict[str, Any] | None:
        now = self.clock()
        return next((retry for retry in self.cursor.retry if retry["NotBefore"] <= now), None)

    def _fresh(self, destination: ExportSettings, until: datetime) -> str | None:
        """The next revision to export for the first time, once those already exported are passed by (without
        waiting for a slot); the listing is read again when what it gave last is dealt with."""
        cursor = self.cursor
        while True:
            if not cursor.ahead:
                if self._listed_all:
                    return None
                listed = revisions_in_scope(self.clients.dataexchange, cursor, until)[:AHEAD]
                self._listed_all = len(listed) < AHEAD
                cursor.ahead = [revision["Id"] for revision in listed]
                if listed:
                    cursor.after = _position(listed[-1])
                continue
            head = cursor.ahead[0]
            if head == cursor.checked:
                return head
            if not exported_before(self.clients.dataexchange, cursor.data_set_id, head, destination):
                cursor.checked = head
                return head
            cursor.ahead.pop(0)
            cursor.skipped += 1
            logger.info("Revision %s: skipped, already exported to s3://%s", head, destination.bucket)

    # --- the jobs ------------------------------------------------------------------------------

    def _start(self, revision_id: str, attempt: int, destination: ExportSettings) -> None:
        export = destination.export_job(self.cursor.data_set_id, revision_id)
        try:
            job = self.clients.dataexchange.create_job(
                Type="EXPORT_REVISIONS_TO_S3", Details={"ExportRevisionsToS3": export}
            )
        except ClientError as error:
            if error.response["Error"]["Code"] not in _REVISION_GONE:
                raise
            # Revoked, or gone, since the listing: the revision's failure, not the backfill's.
            code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
            self._failed(revision_id, [{"Code": code, "Message": message[:MESSAGE_LENGTH]}], "CreateJob refused")
            return
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
        """Rounds of starting what waits and reading what is due, with waits between them, until something
        changed: a job started or ended, or a retry came due. False when the invocation must hand over instead."""
        backoff = self.poll_seconds
        while True:
            if self.context.get_remaining_time_in_millis() <= self.margin_ms:
                return False
            if self._advance():
                return True
            before = self.clock()
            self.sleep(self._pause(backoff))
            if any(before < retry["NotBefore"] <= self.clock() for retry in self.cursor.retry):
                return True
            backoff = min(backoff * 1.5, MAX_POLL_SECONDS)

    def _pause(self, backoff: float) -> float:
        """How long to wait before the next round: until the first running job is due (`_due_at`), then a step;
        `backoff` while no job time is known or a job waits for a slot of the quota; no later than a retry's time,
        nor into the hand-over margin."""
        now = self.clock()
        waits: list[float] = [retry["NotBefore"] - now for retry in self.cursor.retry if retry["NotBefore"] > now]
        for job in self.cursor.in_flight:
            due = self._due_at(job)
            waits.append(backoff if due is None else max(due - now, self._step()))
        left = (self.context.get_remaining_time_in_millis() - self.margin_ms) / 1000
        return max(0.0, min([*waits, left]))

    def _step(self) -> float:
        return max(self.min_step, (self.cursor.job_seconds or 0) / STEPS_PER_JOB)

    def _due_at(self, job: dict[str, Any]) -> float | None:
        """When a running job is worth a read, by the job time seen so far: a step before it would end, so that
        one read usually sees it running and the next, a step later, ended. None: read it every round."""
        job_seconds = self.cursor.job_seconds
        if not job["Started"] or job_seconds is None:
            return None
        return float(job["StartedAt"] + job_seconds - self._step())

    def _advance(self) -> bool:
        """Whether anything changed: a job started, or one ended."""
        changed = False
        for job in list(self.cursor.in_flight):
            if not job["Started"]:
                changed |= self._try_start(job)
                continue
            due = self._due_at(job)
            if due is not None and self.clock() < due:
                continue
            state = self.clients.dataexchange.get_job(JobId=job["JobId"])
            # A started job may still read WAITING (StartJob answers 202, the job starts later), then IN_PROGRESS.
            if state["State"] not in _ENDED:
                job["SeenRunning"] = self.clock()
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
        self._started(job)
        return True

    def _started(self, job: dict[str, Any]) -> None:
        job.update(Started=True, StartedAt=self.clock())
        job["SeenRunning"] = job["StartedAt"]

    def _started_before(self, job: dict[str, Any]) -> bool:
        """A StartJob in conflict: the job left WAITING already, so it is followed in the state it is in."""
        state = self.clients.dataexchange.get_job(JobId=job["JobId"])
        logger.info("Revision %s: job %s was started already: %s", job["RevisionId"], job["JobId"], state["State"])
        if state["State"] == "WAITING":
            return False
        if state["State"] in _ENDED:
            self.cursor.in_flight.remove(job)
            self._ended(job, state)
        else:
            self._started(job)
        return True

    def _ended(self, job: dict[str, Any], state: GetJobResponseTypeDef) -> None:
        cursor, revision_id, now = self.cursor, job["RevisionId"], self.clock()
        errors: list[dict[str, Any]] = [
            {
                "Code": error["Code"],
                "Message": error["Message"][:MESSAGE_LENGTH],
                **{key: error[key] for key in ("LimitName", "LimitValue") if key in error},
            }
            for error in state.get("Errors", [])
        ]
        codes = {error["Code"] for error in errors}
        if state["State"] == "COMPLETED":
            cursor.exported += 1
            if job["Started"]:  # not one found ended by a StartJob in conflict: its start is unknown
                self._learn(job, now)
            logger.info("Revision %s: exported by job %s", revision_id, job["JobId"])
        elif (
            "SERVICE_QUOTA_EXCEEDED_EXCEPTION" in codes
            and self._passing_quota(errors)
            and job["Attempt"] < ATTEMPTS_PER_REVISION
        ):
            cursor.retry.append({"RevisionId": revision_id, "Attempt": job["Attempt"] + 1, "NotBefore": now})
            logger.info("Revision %s: job %s hit the export quota; trying again", revision_id, job["JobId"])
        elif "ACCESS_DENIED_EXCEPTION" in codes and now - (cursor.started or now) < ACCESS_DENIED_GRACE_SECONDS:
            again = now + ACCESS_DENIED_RETRY_SECONDS
            cursor.retry.append({"RevisionId": revision_id, "Attempt": job["Attempt"] + 1, "NotBefore": again})
            logger.info(
                "Revision %s: job %s denied access; trying again, a new grant may not be seen yet",
                revision_id,
                job["JobId"],
            )
        else:
            self._failed(revision_id, errors, f"job {job['JobId']} ended {state['State']}")

    @staticmethod
    def _passing_quota(errors: list[dict[str, Any]]) -> bool:
        """Whether the quota a job met passes as other jobs end (the concurrency quota, or one not named)."""
        named = [
            error["LimitName"]
            for error in errors
            if error["Code"] == "SERVICE_QUOTA_EXCEEDED_EXCEPTION" and "LimitName" in error
        ]
        return all(name.startswith(_PASSING_QUOTA) for name in named)

    def _failed(self, revision_id: str, errors: list[dict[str, Any]], how: str) -> None:
        cursor = self.cursor
        cursor.failed += 1
        if len(cursor.failures) < LISTED_FAILURES:
            cursor.failures.append({"RevisionId": revision_id, "Errors": errors[:ERRORS_PER_FAILURE]})
        logger.warning("Revision %s: %s: %s", revision_id, how, errors)

    def _learn(self, job: dict[str, Any], now: float) -> None:
        """Takes a completed job's time into the job time: it ended after it was last seen running and before now,
        so halfway between, which a poll just after the end and one just before it both bring nearer."""
        seconds = (job["SeenRunning"] + now) / 2 - job["StartedAt"]
        known = self.cursor.job_seconds
        self.cursor.job_seconds = seconds if known is None else known + JOB_TIME_WEIGHT * (seconds - known)

    # --- the chain -------------------------------------------------------------------------------

    def _event_action(self) -> GetEventActionResponseTypeDef | None:
        try:
            found = self.clients.dataexchange.get_event_action(
                EventActionId=self.cursor.event_action_arn.rsplit("/", 1)[1]
            )
        except self.clients.dataexchange.exceptions.ResourceNotFoundException:
            return None
        return found

    def _ended_by(self, found: Claim | None, *, starting: bool = False) -> str | None:
        """Why the chain must end here, by the claim the event action's tag holds; None to go on, with the claim
        this delivery's (see the module)."""
        mine = self.claim
        if found == mine:
            return None
        if found is not None and found.chain > mine.chain:
            return "a newer backfill of its event action has started"
        if found is not None and found.chain == mine.chain:
            if found.invocation > mine.invocation:
                return f"invocation {found.invocation} of this backfill has taken over (this one was delivered again)"
            if found.invocation == mine.invocation and found.token and not starting:
                return (
                    f"invocation {mine.invocation} of this backfill was delivered again, and the other delivery goes on"
                )
        self._write(mine)
        return None

    def _write(self, claim: Claim) -> None:
        self.clients.dataexchange.tag_resource(ResourceArn=self.cursor.event_action_arn, Tags=claim.tag())

    def _standing(self) -> str | None:
        """Why the chain must end now (its stack or event action gone, or its claim taken), or None."""
        event_action = self._event_action()
        if event_action is None:
            return f"event action {self.cursor.event_action_arn} no longer exists"
        return self._stack_gone() or self._ended_by(Claim.read(event_action))

    def _stack_gone(self) -> str | None:
        """Why the chain must end with its stack (being) deleted, or None. An event action the stack retains
        (RemovalPolicy.RETAIN) outlives it, and so would the backfill. A worker deployed before it knew its stack
        has no variable and goes on."""
        stack_id = os.environ.get(WORKER_STACK_VARIABLE)
        if stack_id is None:
            return None
        try:
            [stack] = self.clients.cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
        except ClientError as error:
            # What CloudFormation answers for a stack that does not exist (it describes a deleted one by its id for
            # a while, then no more).
            if error.response["Error"]["Code"] != "ValidationError":
                raise
            return f"its stack {stack_id} no longer exists"
        status = stack["StackStatus"]
        return f"its stack {stack_id} is {status}" if status.startswith("DELETE") else None

    def _hand_over(self) -> str:
        cursor = self.cursor
        ended = self._standing()
        if ended is not None:
            return self._stop(ended)
        cursor.idle = 0 if cursor.dealt_with > self._dealt_with else cursor.idle + 1
        if cursor.idle >= IDLE_INVOCATIONS:
            waiting = f"{len(cursor.in_flight)} job(s) in flight, {len(cursor.retry)} revision(s) waiting to retry"
            return self._finish(
                f"No revision was exported, skipped or failed in {cursor.idle} invocations in a row ({waiting})"
            )
        cursor.invocation += 1
        self.clients.lambda_.invoke(
            FunctionName=self.context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps(cursor.to_payload()).encode(),
        )
        # After the invoke: were this written first and the invoke failed, Lambda's retry of this invocation would
        # find a later one named, and stop.
        self._write(Claim(cursor.chain, cursor.invocation))
        logger.info("Handed over to invocation %d: %s", cursor.invocation, self._counts())
        return "handed over"

    def _stop(self, why: str) -> str:
        """The chain ends without an end event: nothing is left for it to export, or another chain goes on."""
        logger.info("Stopped: %s; %s", why, self._counts())
        return "stopped"

    def _finish(self, reason: str | None = None) -> str:
        ended = self._standing()
        if ended is not None:
            return self._stop(ended)
        outcome = report(self.clients.events, self.cursor, reason, self.sleep)
        # The end named as the next invocation: a copy of this one that arrives late stops. After the report, so
        # that a failure between the two makes Lambda's retry report again rather than not at all.
        self._write(Claim(self.cursor.chain, self.cursor.invocation + 1))
        logger.info("%s: %s", outcome, self._counts())
        return "failed" if self.cursor.failed or reason else "completed"

    def _counts(self) -> str:
        cursor = self.cursor
        counts = f"{cursor.exported} exported, {cursor.skipped} skipped, {cursor.failed} failed"
        return f"{counts}, in {cursor.invocation} invocation(s)"


def report(
    events: EventBridgeClient, cursor: Cursor, reason: str | None = None, sleep: Callable[[float], object] = time.sleep
) -> str:
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
        detail[Detail.REASON] = reason[:MESSAGE_LENGTH]
    failed = cursor.failed or reason is not None
    outcome = DetailType.BACKFILL_FAILED if failed else DetailType.BACKFILL_COMPLETED
    resources = [cursor.event_action_arn, *([cursor.product_id] if cursor.product_id else [])]
    put_event(events, outcome, detail, resources, sleep)
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
    """Starts the worker on a backfill, asynchronously: the stack never waits for it. The new chain's id goes into
    the event action's BACKFILL_TAG first, which ends any chain an earlier backfill of it still runs. Whatever
    happens, the stack goes on; the worker reports its outcome itself, as an EventBridge event."""
    cursor = replace(cursor, chain=new_chain())
    try:
        clients.dataexchange.tag_resource(ResourceArn=cursor.event_action_arn, Tags=Claim(cursor.chain, 1).tag())
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
