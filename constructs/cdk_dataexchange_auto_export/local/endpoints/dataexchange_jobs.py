"""Export jobs of the local Data Exchange, made by CreateJob or by an event action, run over simulated time.

Time is either the endpoint's own clock, which every request moves on by one tick (a started job is
IN_PROGRESS for `job_ticks` ticks, JOB_TICKS unless told otherwise), or, with `job_seconds`, a clock of
seconds the caller owns (a virtual clock that the worker's sleeps move on): a started job then runs that
many seconds. It ends COMPLETED (each asset written to `S3_ROOT/BUCKET/KEY`) or in ERROR (a failure
planned for its revision). With `job_ticks` None and no `job_seconds`, jobs run until `end_running` ends
them all at once. At most CONCURRENT_EXPORTS export jobs run at once in the account (the service's
quota, not adjustable); a StartJob beyond it is refused with ServiceLimitExceededException, one of the
three ways the quota may show (undocumented). Job error codes are the service's; their messages are
illustrative.

Rules of the service played on request, each from its documentation:
- StartJob answers 202 and the job leaves WAITING asynchronously (the API reference; AWS's export samples
  poll through WAITING): with `waiting_reads` N, a started job reads WAITING N times before IN_PROGRESS.
- A JobError names the quota it met in `LimitName` and `LimitValue` (the API reference's JobError): a
  per-revision quota (`AssetsPerRevision`) as well as the concurrency quota (`ConcurrentExports`), or
  none (`QuotaExceeded`), since which the service sends is undocumented.
- IAM is eventually consistent (the IAM user guide, "Troubleshooting IAM": a change can take a while to be
  visible everywhere): `deny_exports_for(seconds)` ends in ACCESS_DENIED_EXCEPTION every export started in
  the next `seconds`, as the caller's new s3:PutObject grant is not seen yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from . import dataexchange_rules as rules
from .dataexchange_state import Item, State, arn, entitled_arn, new_id, now, page
from .protocol import Request, ServiceError, iso8601_milliseconds, validation_error

EXPORT_REVISIONS_TO_S3 = "EXPORT_REVISIONS_TO_S3"
JOB_TICKS = 10
CONCURRENT_EXPORTS = 5
CONCURRENCY_LIMIT_NAME = "Concurrent in progress jobs to export revisions to Amazon S3"
# The service's quota of assets in one revision (Service Quotas, AWS Data Exchange), named as JobError's
# LimitName enum names it.
ASSETS_PER_REVISION = ("Assets per revision", 10_000)


class Failure(NamedTuple):
    """What a failed export's JobError says: its Code, an illustrative Message, and the quota it met, if any."""

    code: str
    message: str
    limit: tuple[str, float] | None = None


# What makes an export fail -> its JobError.
FAILURES: Mapping[str, Failure] = {
    "S3AccessDenied": Failure("ACCESS_DENIED_EXCEPTION", "Access denied writing to bucket {bucket}"),
    "KmsKeyDisabled": Failure("ACCESS_DENIED_EXCEPTION", "The KMS key used to encrypt objects in {bucket} is disabled"),
    "QuotaExceeded": Failure("SERVICE_QUOTA_EXCEEDED_EXCEPTION", "Too many concurrent export jobs in this account"),
    "ConcurrentExports": Failure(
        "SERVICE_QUOTA_EXCEEDED_EXCEPTION",
        "Too many concurrent export jobs in this account",
        (CONCURRENCY_LIMIT_NAME, CONCURRENT_EXPORTS),
    ),
    "AssetsPerRevision": Failure(
        "SERVICE_QUOTA_EXCEEDED_EXCEPTION", "The revision has more assets than an export takes", ASSETS_PER_REVISION
    ),
    "MalwareDetected": Failure("MALWARE_DETECTED", "Malware was detected in an asset of the revision"),
}


def render_key(pattern: str, data_set: Item, revision: Item, asset: Item) -> str:
    """The object key of an asset. ${Revision.CreatedAt}'s exact text is undocumented: ISO 8601 here."""
    created = datetime.fromisoformat(revision["CreatedAt"])
    values = {
        "Asset.Id": asset["Id"],
        "Asset.Name": asset["Name"],
        "DataSet.Id": data_set["Id"],
        "DataSet.Name": data_set["Name"],
        "Revision.Id": revision["Id"],
        "Revision.CreatedAt": iso8601_milliseconds(created),
        "Revision.CreatedAt.Year": f"{created.year:04d}",
        "Revision.CreatedAt.Month": f"{created.month:02d}",
        "Revision.CreatedAt.Day": f"{created.day:02d}",
    }
    for variable, value in values.items():
        pattern = pattern.replace("${" + variable + "}", value)
    return pattern


def _answered(job: Mapping[str, Any]) -> Item:
    """A job as the API answers it. Errors is an optional member of the answers (API model): a job without
    errors comes without it, so no client here can count on finding it. A started job that has not left
    WAITING yet reads WAITING."""
    answer = {key: value for key, value in job.items() if key != "Errors" or value}
    if job.get("WaitingReads"):
        answer["State"] = "WAITING"
    return answer


def details(job: Mapping[str, Any]) -> Item:
    found: Item = job["Details"].get("ExportRevisionsToS3", {})
    return found


class _Destination(NamedTuple):
    """One revision an export job writes: to which bucket, under which key pattern, and the object key
    of each of its assets."""

    bucket: str
    revision: Item
    key_pattern: str
    objects: list[tuple[Item, str]]


class Jobs:
    def __init__(
        self,
        state: State,
        account: str,
        s3_root: Path | None,
        job_ticks: int | None = JOB_TICKS,
        job_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._account = account
        self._s3_root = s3_root
        self.job_ticks = job_ticks
        self.job_seconds = job_seconds
        self.clock = clock
        self.waiting_reads = 0
        self._denied_until = float("-inf")  # exports started before this time are denied
        # Revision id -> the FAILURES causes of its next exports, in turn.
        self._failures: dict[str, list[str]] = {}
        self._running = {job["Id"] for job in state.jobs.values() if job["State"] == "IN_PROGRESS"}
        # Told of every job that ends while running (Data Exchange's events for auto-exports).
        self.on_end: Callable[[Item], object] = lambda job: None

    def fail_next_export(self, revision_id: str, cause: str, times: int = 1) -> None:
        if cause not in FAILURES:
            raise ValueError(f"Unknown failure {cause!r}: expected one of {', '.join(FAILURES)}")
        self._failures.setdefault(revision_id, []).extend([cause] * times)

    def deny_exports_for(self, seconds: float) -> None:
        """Exports started in the next `seconds` end in ACCESS_DENIED_EXCEPTION: the caller's new grant is not
        seen yet."""
        self._denied_until = self.clock() + seconds

    def tick(self) -> None:
        """One request's worth of time: running jobs whose time is up finish."""
        self._state.clock += 1
        if self.job_seconds is not None:
            now, seconds = self.clock(), self.job_seconds
            self._end([job_id for job_id in self._running if now - self._state.jobs[job_id]["StartedAt"] >= seconds])
        elif self.job_ticks is not None:
            ticks = self.job_ticks
            self._end([job_id for job_id in self._running if self._state.clock - self._started(job_id) >= ticks])

    def end_running(self) -> int:
        """Every running job ends now, as planned; returns how many."""
        ending = list(self._running)
        self._end(ending)
        return len(ending)

    def _started(self, job_id: str) -> int:
        started: int = self._state.jobs[job_id]["StartedTick"]
        return started

    def _end(self, job_ids: list[str]) -> None:
        for job_id in sorted(job_ids):
            job = self._state.jobs[job_id]
            self._running.discard(job_id)
            job.update(EndedTick=self._state.clock, EndedAt=self.clock())
            self.run(job)
            self.on_end(job)

    def start(self, job: Item) -> None:
        job.update(State="IN_PROGRESS", UpdatedAt=now(), StartedTick=self._state.clock, StartedAt=self.clock())
        job["WaitingReads"] = self.waiting_reads
        self._running.add(job["Id"])

    @property
    def quota_full(self) -> bool:
        return len(self._running) >= CONCURRENT_EXPORTS

    def new_job(self, region: str, export: Item) -> Item:
        job_id, created = new_id(), now()
        job = {
            "Id": job_id,
            "Arn": arn(region, self._account, f"jobs/{job_id}"),
            "Type": EXPORT_REVISIONS_TO_S3,
            "State": "WAITING",
            "Details": {"ExportRevisionsToS3": export},
            "Errors": [],
            "CreatedAt": created,
            "UpdatedAt": created,
        }
        self._state.jobs[job_id] = job
        return job

    def run(self, job: Item, fail: str | None = None) -> list[str]:
        """Runs a job to its end now: every asset written (their s3://BUCKET/KEY returned), or the job in
        ERROR with one error and nothing written."""
        written = []
        for destination in self._destinations(details(job)):
            revision = destination.revision
            planned = self._failures.get(revision["Id"])
            cause = fail or (planned.pop(0) if planned else None)
            if cause is None and job.get("StartedAt", self._denied_until) < self._denied_until:
                cause = "S3AccessDenied"
            if cause is not None:
                failure = FAILURES[cause]
                error: Item = {"Code": failure.code, "Message": failure.message.format(bucket=destination.bucket)}
                if failure.limit is not None:
                    error.update(LimitName=failure.limit[0], LimitValue=failure.limit[1])
                job.update(State="ERROR", UpdatedAt=now())
                job["Errors"] = [{**error, "ResourceId": revision["Id"], "ResourceType": "REVISION"}]
                return []
            written += [self._write(destination.bucket, key, asset) for asset, key in destination.objects]
        job.update(State="COMPLETED", UpdatedAt=now())
        return written

    def _destinations(self, export: Item) -> Iterator[_Destination]:
        data_set = self._state.data_sets[export["DataSetId"]]
        # An auto-export without a key pattern keys objects by its event action's default, not a manual export's.
        default = (
            rules.DEFAULT_EVENT_ACTION_KEY_PATTERN if "EventActionArn" in export else rules.DEFAULT_JOB_KEY_PATTERN
        )
        for destination in export["RevisionDestinations"]:
            revision = self._state.revisions[destination["RevisionId"]]
            pattern = destination.get("KeyPattern", default)
            objects = [(asset, render_key(pattern, data_set, revision, asset)) for asset in revision["Assets"]]
            yield _Destination(destination["Bucket"], revision, pattern, objects)

    def _write(self, bucket: str, key: str, asset: Item) -> str:
        if self._s3_root is not None:
            path = self._s3_root / bucket / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"Asset {asset['Name']} ({asset['Id']}), exported by the local Data Exchange\n")
        return f"s3://{bucket}/{key}"

    # --- the API ------------------------------------------------------------------------------

    def _job(self, params: dict[str, Any], request: Request, action: str) -> Item:
        job_id = params["JobId"]
        rules.check_identifier(job_id, "JobId")
        job = self._state.jobs.get(job_id)
        context = {"dataexchange:JobType": job["Type"]} if job and action != "dataexchange:GetJob" else {}
        request.authorize(action, arn(request.region, self._account, f"jobs/{job_id}"), **context)
        if job is None:
            raise ServiceError(
                "ResourceNotFoundException", f"Job {job_id} was not found", ResourceId=job_id, ResourceType="JOB"
            )
        return job

    def create_job(self, params: dict[str, Any], request: Request) -> Item:
        if params["Type"] != EXPORT_REVISIONS_TO_S3:
            raise validation_error(f"Type {params['Type']}: only {EXPORT_REVISIONS_TO_S3} jobs are served offline")
        export = params["Details"].get("ExportRevisionsToS3")
        if export is None:
            raise validation_error("Details.ExportRevisionsToS3: required for an EXPORT_REVISIONS_TO_S3 job")
        job = self.new_job(request.region, export)
        request.authorize("dataexchange:CreateJob", job["Arn"], **{"dataexchange:JobType": job["Type"]})
        try:
            rules.check_encryption(export.get("Encryption"))
            data_set = self._state.data_sets.get(export["DataSetId"])
            if data_set is None:
                raise ServiceError(
                    "ResourceNotFoundException",
                    f"Data set {export['DataSetId']} was not found",
                    ResourceType="DATA_SET",
                )
            for destination in export["RevisionDestinations"]:
                rules.check_bucket(destination["Bucket"])
                if "KeyPattern" in destination:
                    rules.check_key_pattern(destination["KeyPattern"])
                revision = self._state.revisions.get(destination["RevisionId"])
                if revision is None or revision["DataSetId"] != data_set["Id"]:
                    raise ServiceError(
                        "ResourceNotFoundException",
                        f"Revision {destination['RevisionId']} was not found",
                        ResourceType="REVISION",
                    )
                if not revision["Finalized"] or revision["Revoked"]:
                    raise validation_error(
                        f"Revision {revision['Id']} is not finalized, or revoked: it cannot be exported"
                    )
        except ServiceError:
            del self._state.jobs[job["Id"]]
            raise
        return _answered(job)

    def start_job(self, params: dict[str, Any], request: Request) -> None:
        job = self._job(params, request, "dataexchange:StartJob")
        if job["State"] != "WAITING":
            raise ServiceError("ConflictException", f"Job {job['Id']} is {job['State']}: only a WAITING job starts")
        self._authorize_as_caller(job, request)
        if self.quota_full:
            raise ServiceError(
                "ServiceLimitExceededException",
                f"{CONCURRENT_EXPORTS} export jobs are in progress in this account",
                LimitName=CONCURRENCY_LIMIT_NAME,
                LimitValue=CONCURRENT_EXPORTS,
            )
        self.start(job)

    def _authorize_as_caller(self, job: Item, request: Request) -> None:
        """What running an export does with the caller's permissions: read each revision and its assets
        (from Data Exchange's own buckets, called via the service), write each object, use the KMS key,
        and read the data set's name for a ${DataSet.Name} pattern."""
        export, region = details(job), request.region
        data_set_id = export["DataSetId"]
        key = rules.kms_key(export)
        for destination in self._destinations(export):
            revision = destination.revision
            request.authorize(
                "dataexchange:GetRevision",
                entitled_arn(region, f"data-sets/{data_set_id}/revisions/{revision['Id']}"),
            )
            if rules.names_data_set(destination.key_pattern):
                request.authorize("dataexchange:GetDataSet", entitled_arn(region, f"data-sets/{data_set_id}"))
            for asset, object_key in destination.objects:
                stored = f"arn:aws:s3:::aws-data-exchange-assets-{region}/{data_set_id}/{revision['Id']}/{asset['Id']}"
                request.authorize("s3:GetObject", stored, **{"aws:CalledVia": "dataexchange.amazonaws.com"})
                request.authorize("s3:PutObject", f"arn:aws:s3:::{destination.bucket}/{object_key}")
                if key:
                    request.authorize("kms:GenerateDataKey", key)
                    request.authorize("kms:Decrypt", key)

    def cancel_job(self, params: dict[str, Any], request: Request) -> None:
        job = self._job(params, request, "dataexchange:CancelJob")
        if job["State"] != "WAITING":
            raise ServiceError(
                "ConflictException", f"Job {job['Id']} is {job['State']}: only a WAITING job is cancelled"
            )
        job.update(State="CANCELLED", UpdatedAt=now())

    def get_job(self, params: dict[str, Any], request: Request) -> Item:
        job = self._job(params, request, "dataexchange:GetJob")
        answer = _answered(job)
        if job.get("WaitingReads"):
            job["WaitingReads"] -= 1
        return answer

    def list_jobs(self, params: dict[str, Any], request: Request) -> Item:
        # No resource-level permissions: "*" is the only resource the action accepts.
        request.authorize("dataexchange:ListJobs", "*")
        data_set_id, revision_id = params.get("DataSetId"), params.get("RevisionId")
        jobs = [
            _answered(job)
            for job in self._state.jobs.values()
            if data_set_id in (None, details(job).get("DataSetId"))
            and revision_id in (None, *(d["RevisionId"] for d in details(job).get("RevisionDestinations", [])))
        ]
        return page(jobs, params, "Jobs", newest_first=True)
