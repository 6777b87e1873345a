"""Data sets, revisions and export jobs of the local Data Exchange, and what a provider's publishing does.

When a revision is published, every event action on its data set runs: an auto-export job of type
EXPORT_REVISIONS_TO_S3 (its Details name the event action) writes each asset to the bucket under
the rendered key pattern, here a folder `S3_ROOT/BUCKET/KEY`, and Data Exchange sends EventBridge an
`Auto-export Job Completed` or `Auto-export Job Failed` event in the documented shape. Job errors and
their texts are illustrative: the service documents the codes, not the messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..account import REGION
from . import dataexchange_rules as rules
from .dataexchange_state import Item, State, arn, new_id, now, page
from .restjson import Request, ServiceError

EXPORT_REVISIONS_TO_S3 = "EXPORT_REVISIONS_TO_S3"
# --fail CAUSE: what made the export fail -> JobError Code and an illustrative Message.
FAILURES: Mapping[str, tuple[str, str]] = {
    "S3AccessDenied": ("ACCESS_DENIED_EXCEPTION", "Access denied writing to bucket {bucket}"),
    "KmsKeyDisabled": ("ACCESS_DENIED_EXCEPTION", "The KMS key used to encrypt objects in {bucket} is disabled"),
    "QuotaExceeded": ("SERVICE_QUOTA_EXCEEDED_EXCEPTION", "Too many concurrent export jobs in this account"),
    "MalwareDetected": ("MALWARE_DETECTED", "Malware was detected in an asset of the revision"),
}
EventSink = Callable[[Item], object]


@dataclass(frozen=True)
class Publication:
    """One published revision, the auto-export jobs it started, the objects each wrote (s3://BUCKET/KEY)
    and the events Data Exchange sent."""

    revision: Item
    jobs: list[Item]
    objects: dict[str, list[str]]
    events: list[Item]


def entitled_arn(region: str, resource: str) -> str:
    """An entitled data set belongs to its provider: its ARN (and its revisions') has no account."""
    return arn(region, "", resource)


def render_key(pattern: str, data_set: Item, revision: Item, asset: Item) -> str:
    """The object key of an asset. ${Revision.CreatedAt}'s exact text is undocumented: ISO 8601 here."""
    created = datetime.fromisoformat(revision["CreatedAt"])
    values = {
        "Asset.Id": asset["Id"],
        "Asset.Name": asset["Name"],
        "DataSet.Id": data_set["Id"],
        "DataSet.Name": data_set["Name"],
        "Revision.Id": revision["Id"],
        "Revision.CreatedAt": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
        "Revision.CreatedAt.Year": f"{created.year:04d}",
        "Revision.CreatedAt.Month": f"{created.month:02d}",
        "Revision.CreatedAt.Day": f"{created.day:02d}",
    }
    for variable, value in values.items():
        pattern = pattern.replace("${" + variable + "}", value)
    return pattern


class Exports:
    """The data sets the account is entitled to, their revisions, and export jobs."""

    def __init__(self, state: State, account: str, s3_root: Path | None, events: EventSink | None) -> None:
        self._state = state
        self._account = account
        self._s3_root = s3_root
        self._events = events

    # --- what a provider does ----------------------------------------------------------------

    def entitle(self, data_set_id: str, name: str | None = None) -> Item:
        """The account subscribes to a data set (made, with a product, on first use)."""
        rules.check_identifier(data_set_id, "DataSetId")
        if data_set_id not in self._state.data_sets:
            created = now()
            self._state.data_sets[data_set_id] = {
                "Id": data_set_id,
                "Arn": entitled_arn(REGION, f"data-sets/{data_set_id}"),
                "Name": name or f"Data set {data_set_id[:8]}",
                "Origin": "ENTITLED",
                "AssetType": "S3_SNAPSHOT",
                "Description": "A data set of the local Data Exchange",
                "ProductId": f"prod-{uuid.uuid4().hex[:13]}",
                "CreatedAt": created,
                "UpdatedAt": created,
            }
        return self._state.data_sets[data_set_id]

    def add_revision(self, data_set_id: str, asset_names: Sequence[str], comment: str = "") -> Item:
        """A finalized revision of the data set, with one asset per name."""
        self.entitle(data_set_id)
        revision_id, created = new_id(), now()
        assets = [{"Id": new_id(), "Name": name} for name in asset_names]
        revision = {
            "Id": revision_id,
            "Arn": entitled_arn(REGION, f"data-sets/{data_set_id}/revisions/{revision_id}"),
            "DataSetId": data_set_id,
            "Comment": comment,
            "Finalized": True,
            "Revoked": False,
            "CreatedAt": created,
            "UpdatedAt": created,
            "Assets": assets,
        }
        self._state.revisions[revision_id] = revision
        return revision

    def publish(self, data_set_id: str, asset_names: Sequence[str], fail: str | None = None) -> Publication:
        """A provider publishes a revision: every event action on the data set exports it (or fails to)."""
        revision = self.add_revision(data_set_id, asset_names, comment="Published offline")
        publication = Publication(revision, [], {}, [])
        for action in self._state.event_actions.values():
            if action["Event"]["RevisionPublished"]["DataSetId"] == data_set_id:
                job = self._auto_export(action, revision)
                publication.jobs.append(job)
                publication.objects[job["Id"]] = self.run(job, fail)
                publication.events.append(self._send(job, revision))
        return publication

    def _auto_export(self, event_action: Item, revision: Item) -> Item:
        export = event_action["Action"]["ExportRevisionToS3"]
        destination = export["RevisionDestination"]
        details = {
            "DataSetId": revision["DataSetId"],
            "RevisionDestinations": [
                {
                    "Bucket": destination["Bucket"],
                    "KeyPattern": destination.get("KeyPattern", rules.DEFAULT_EVENT_ACTION_KEY_PATTERN),
                    "RevisionId": revision["Id"],
                }
            ],
            "EventActionArn": event_action["Arn"],
            **({"Encryption": export["Encryption"]} if "Encryption" in export else {}),
        }
        return self.new_job(event_action["Arn"].split(":")[3], details)

    def new_job(self, region: str, details: Item) -> Item:
        job_id, created = new_id(), now()
        job = {
            "Id": job_id,
            "Arn": arn(region, self._account, f"jobs/{job_id}"),
            "Type": EXPORT_REVISIONS_TO_S3,
            "State": "WAITING",
            "Details": {"ExportRevisionsToS3": details},
            "Errors": [],
            "CreatedAt": created,
            "UpdatedAt": created,
        }
        self._state.jobs[job_id] = job
        return job

    def run(self, job: Item, fail: str | None) -> list[str]:
        """Runs an export job to its end, every asset written (s3://BUCKET/KEY of each returned), or the
        job in ERROR with one error and nothing written."""
        details = job["Details"]["ExportRevisionsToS3"]
        data_set = self.entitle(details["DataSetId"])
        written = []
        for destination in details["RevisionDestinations"]:
            revision = self._state.revisions[destination["RevisionId"]]
            if fail is not None:
                code, message = FAILURES[fail]
                error = {"Code": code, "Message": message.format(bucket=destination["Bucket"])}
                job.update(State="ERROR", UpdatedAt=now())
                job["Errors"] = [{**error, "ResourceId": revision["Id"], "ResourceType": "REVISION"}]
                return []
            for asset in revision["Assets"]:
                key = render_key(destination["KeyPattern"], data_set, revision, asset)
                written.append(self._write(destination["Bucket"], key, asset))
        job.update(State="COMPLETED", UpdatedAt=now())
        return written

    def _write(self, bucket: str, key: str, asset: Item) -> str:
        if self._s3_root is not None:
            path = self._s3_root / bucket / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"Asset {asset['Name']} ({asset['Id']}), exported by the local Data Exchange\n")
        return f"s3://{bucket}/{key}"

    def _send(self, job: Item, revision: Item) -> Item:
        """The event Data Exchange sends for an auto-export job, in the documented shape."""
        data_set = self._state.data_sets[revision["DataSetId"]]
        outcome = "Completed" if job["State"] == "COMPLETED" else "Failed"
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": f"Auto-export Job {outcome}",
            "source": "aws.dataexchange",
            "account": self._account,
            "time": job["UpdatedAt"][:19] + "Z",
            "region": job["Arn"].split(":")[3],
            "resources": [data_set["ProductId"]],
            "detail": {
                "RevisionIds": [revision["Id"]],
                "Revisions": [{"Id": revision["Id"], "Comment": revision["Comment"]}],
                "DataSetIds": [data_set["Id"]],
                "DataSets": [{"Id": data_set["Id"], "Name": data_set["Name"]}],
                "Product": {"Id": data_set["ProductId"]},
            },
        }
        if self._events is not None:
            self._events(event)
        return event

    # --- the API ------------------------------------------------------------------------------

    def _data_set(self, data_set_id: str, request: Request, action: str) -> Item:
        rules.check_identifier(data_set_id, "DataSetId")
        request.authorize(action, entitled_arn(request.region, f"data-sets/{data_set_id}"))
        if data_set_id not in self._state.data_sets:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Data set {data_set_id} was not found",
                ResourceId=data_set_id,
                ResourceType="DATA_SET",
            )
        return self._state.data_sets[data_set_id]

    def get_data_set(self, params: dict[str, Any], request: Request) -> Item:
        return self._data_set(params["DataSetId"], request, "dataexchange:GetDataSet")

    def list_data_set_revisions(self, params: dict[str, Any], request: Request) -> Item:
        data_set_id = params["DataSetId"]
        self._data_set(data_set_id, request, "dataexchange:ListDataSetRevisions")
        revisions = [item for item in self._state.revisions.values() if item["DataSetId"] == data_set_id]
        return page(revisions, params, "Revisions", newest_first=True)

    def get_revision(self, params: dict[str, Any], request: Request) -> Item:
        data_set_id, revision_id = params["DataSetId"], params["RevisionId"]
        rules.check_identifier(data_set_id, "DataSetId")
        rules.check_identifier(revision_id, "RevisionId")
        request.authorize(
            "dataexchange:GetRevision", entitled_arn(request.region, f"data-sets/{data_set_id}/revisions/{revision_id}")
        )
        revision = self._state.revisions.get(revision_id)
        if revision is None or revision["DataSetId"] != data_set_id:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Revision {revision_id} was not found",
                ResourceId=revision_id,
                ResourceType="REVISION",
            )
        return revision

    def get_job(self, params: dict[str, Any], request: Request) -> Item:
        job_id = params["JobId"]
        rules.check_identifier(job_id, "JobId")
        request.authorize("dataexchange:GetJob", arn(request.region, self._account, f"jobs/{job_id}"))
        job = self._state.jobs.get(job_id)
        if job is None:
            raise ServiceError(
                "ResourceNotFoundException", f"Job {job_id} was not found", ResourceId=job_id, ResourceType="JOB"
            )
        return job

    def list_jobs(self, params: dict[str, Any], request: Request) -> Item:
        # No resource-level permissions: "*" is the only resource the action accepts.
        request.authorize("dataexchange:ListJobs", "*")
        data_set_id, revision_id = params.get("DataSetId"), params.get("RevisionId")
        jobs = [
            job
            for job in self._state.jobs.values()
            if data_set_id in (None, _details(job).get("DataSetId"))
            and revision_id in (None, *(d["RevisionId"] for d in _details(job).get("RevisionDestinations", [])))
        ]
        return page(jobs, params, "Jobs", newest_first=True)


def _details(job: Mapping[str, Any]) -> Mapping[str, Any]:
    details: Mapping[str, Any] = job["Details"].get("ExportRevisionsToS3", {})
    return details
