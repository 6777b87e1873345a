"""The data sets a subscriber is entitled to and their revisions, and what a provider's publishing does.

When a revision is published, every event action on its data set runs: an auto-export job of type
EXPORT_REVISIONS_TO_S3 (its Details name the event action) exports it at once, or on request runs like
any export job, taking a slot of the account's concurrent-export quota until it ends. Data Exchange
sends EventBridge an `Auto-export Job Completed` or `Auto-export Job Failed` event in the documented
shape when it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..account import REGION
from . import dataexchange_rules as rules
from .dataexchange_jobs import Jobs, details
from .dataexchange_state import Item, State, entitled_arn, entitled_data_set, new_id, new_product_id, now, page
from .protocol import Request, ServiceError

EventSink = Callable[[Item], object]


@dataclass(frozen=True)
class Publication:
    """One published revision, the auto-export jobs it started, the objects each wrote (s3://BUCKET/KEY)
    and the events Data Exchange sent, as they stand when it is published (a job still running is in
    `jobs` only)."""

    revision: Item
    jobs: list[Item]
    objects: dict[str, list[str]]
    events: list[Item]


class Revisions:
    def __init__(self, state: State, account: str, jobs: Jobs, events: EventSink) -> None:
        self._state = state
        self._account = account
        self._jobs = jobs
        self._events = events
        jobs.on_end = self._ended

    # --- what a provider does ----------------------------------------------------------------

    def entitle(self, data_set_id: str) -> Item:
        """The account subscribes to a data set (made, with a product, on first use)."""
        rules.check_identifier(data_set_id, "DataSetId")
        if data_set_id not in self._state.data_sets:
            self._state.data_sets[data_set_id] = entitled_data_set(
                data_set_id, f"Data set {data_set_id[:8]}", new_product_id()
            )
        return self._state.data_sets[data_set_id]

    def add_revision(
        self,
        data_set_id: str,
        asset_names: Sequence[str],
        *,
        comment: str = "",
        finalized: bool = True,
        revoked: bool = False,
    ) -> Item:
        """A revision of the data set, with one asset per name (an unfinalized one cannot be exported,
        a revoked one must not be)."""
        self.entitle(data_set_id)
        revision_id, created = new_id(), now()
        revision = {
            "Id": revision_id,
            "Arn": entitled_arn(REGION, f"data-sets/{data_set_id}/revisions/{revision_id}"),
            "DataSetId": data_set_id,
            "Comment": comment,
            "Finalized": finalized,
            "Revoked": revoked,
            "CreatedAt": created,
            "UpdatedAt": created,
            "Assets": [{"Id": new_id(), "Name": name} for name in asset_names],
            **({"RevokedAt": created, "RevocationComment": "Revoked by the provider"} if revoked else {}),
        }
        self._state.revisions[revision_id] = revision
        return revision

    def publish(
        self, data_set_id: str, asset_names: Sequence[str], fail: str | None = None, *, in_progress: bool = False
    ) -> Publication:
        """A provider publishes a revision: every event action on the data set exports it (or fails to), at
        once or, `in_progress`, in a job that runs with the clock. How the service treats an auto-export
        beyond the concurrent-export quota is undocumented: here it ends in ERROR at once."""
        revision = self.add_revision(data_set_id, asset_names, comment="Published offline")
        publication = Publication(revision, [], {}, [])
        for action in self._state.event_actions.values():
            if action["Event"]["RevisionPublished"]["DataSetId"] != data_set_id:
                continue
            export = action["Action"]["ExportRevisionToS3"]
            destination = export["RevisionDestination"]
            job = self._jobs.new_job(
                action["Arn"].split(":")[3],
                {
                    "DataSetId": data_set_id,
                    # The event action's destination as it was sent: whether the service fills in the default
                    # key pattern is undocumented, so a job without one is read as the event action's default.
                    "RevisionDestinations": [{**destination, "RevisionId": revision["Id"]}],
                    "EventActionArn": action["Arn"],
                    **({"Encryption": export["Encryption"]} if "Encryption" in export else {}),
                },
            )
            publication.jobs.append(job)
            if in_progress and not self._jobs.quota_full:
                if fail is not None:
                    self._jobs.fail_next_export(revision["Id"], fail)
                self._jobs.start(job)
                continue
            publication.objects[job["Id"]] = self._jobs.run(job, fail or ("QuotaExceeded" if in_progress else None))
            publication.events.append(self._send(job, revision))
        return publication

    def _ended(self, job: Item) -> None:
        export = details(job)
        if "EventActionArn" in export:
            self._send(job, self._state.revisions[export["RevisionDestinations"][0]["RevisionId"]])

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
            "resources": [data_set["OriginDetails"]["ProductId"]],
            "detail": {
                "RevisionIds": [revision["Id"]],
                "Revisions": [{"Id": revision["Id"], "Comment": revision["Comment"]}],
                "DataSetIds": [data_set["Id"]],
                "DataSets": [{"Id": data_set["Id"], "Name": data_set["Name"]}],
                "Product": {"Id": data_set["OriginDetails"]["ProductId"]},
            },
        }
        self._events(event)
        return event

    # --- the API ------------------------------------------------------------------------------

    def _data_set(self, data_set_id: str, request: Request, action: str) -> Item:
        rules.check_identifier(data_set_id, "DataSetId")
        request.authorize(action, entitled_arn(request.region, f"data-sets/{data_set_id}"))
        if self._state.data_sets.get(data_set_id, {}).get("Origin") != "ENTITLED":
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
        revision_arn = entitled_arn(request.region, f"data-sets/{data_set_id}/revisions/{revision_id}")
        request.authorize("dataexchange:GetRevision", revision_arn)
        revision = self._state.revisions.get(revision_id)
        if revision is None or revision["DataSetId"] != data_set_id:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Revision {revision_id} was not found",
                ResourceId=revision_id,
                ResourceType="REVISION",
            )
        return revision
