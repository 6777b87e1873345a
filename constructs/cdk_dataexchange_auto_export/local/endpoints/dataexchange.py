"""The local Data Exchange: its state and the operations an unmodified boto3 client can call on it."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.config import Config

from ..account import ACCOUNT, REGION
from . import dataexchange_rules as rules
from .dataexchange_jobs import JOB_TICKS, Jobs
from .dataexchange_products import Products
from .dataexchange_revisions import EventSink, Publication, Revisions
from .dataexchange_state import DEFAULT_PAGE_SIZE, Item, State, arn, entitled_arn, new_id, now, page
from .protocol import Operation, Request, Response, ServiceError, service_model, validation_error
from .server import LocalEndpoint, client

if TYPE_CHECKING:
    from mypy_boto3_dataexchange import DataExchangeClient


def local_client(url: str, *, region: str = REGION, config: Config | None = None) -> DataExchangeClient:
    """An unmodified boto3 Data Exchange client for a local endpoint, with throwaway credentials."""
    return cast("DataExchangeClient", client("dataexchange", url, region=region, config=config))


def _data_set_of(event: Mapping[str, Any] | None) -> str:
    published = (event or {}).get("RevisionPublished")
    if published is None:
        raise validation_error("Event.RevisionPublished: required member is missing")
    data_set_id: str = published["DataSetId"]
    rules.check_identifier(data_set_id, "Event.RevisionPublished.DataSetId")
    return data_set_id


# How the stand-in answers an Action. Whether the service echoes an Action as sent, with its defaults
# filled in or with them left out is undocumented (Terraform's acceptance tests saw the default key
# pattern filled in and no Encryption filled in), so a client must treat all three alike.
Answers = Literal["as sent", "defaults filled in", "defaults left out"]


def _answered(action: Mapping[str, Any], answers: Answers) -> dict[str, Any]:
    export = copy.deepcopy(dict(action["ExportRevisionToS3"]))
    destination = export["RevisionDestination"]
    if answers == "defaults filled in":
        destination.setdefault("KeyPattern", rules.DEFAULT_EVENT_ACTION_KEY_PATTERN)
        export.setdefault("Encryption", {"Type": "AES256"})
    elif answers == "defaults left out":
        if destination.get("KeyPattern") == rules.DEFAULT_EVENT_ACTION_KEY_PATTERN:
            del destination["KeyPattern"]
        if export.get("Encryption") == {"Type": "AES256"}:
            del export["Encryption"]
    return {"ExportRevisionToS3": export}


def _applied_quotas(raised: Mapping[str, int]) -> dict[str, int]:
    """The account's quotas: the defaults, with those Service Quotas raised. It raises only adjustable quotas, and
    only above their default (RequestServiceQuotaIncrease refuses a value below the one applied)."""
    for name, value in raised.items():
        if name not in rules.ADJUSTABLE_QUOTAS:
            raise ValueError(f"Unknown quota {name!r}: adjustable are {', '.join(sorted(rules.ADJUSTABLE_QUOTAS))}")
        if value < rules.ADJUSTABLE_QUOTAS[name]:
            raise ValueError(f"Quota {name!r} can only be raised above its default {rules.ADJUSTABLE_QUOTAS[name]}")
    return {**rules.ADJUSTABLE_QUOTAS, **raised}


class DataExchangeEndpoint(LocalEndpoint):
    """Data Exchange for a subscriber, served over HTTP, with fault injection and a call log: event
    actions and their tags, entitled data sets with their revisions, and export jobs.

    An event action may name any well-formed data set id: the account is taken to be entitled to it.
    `s3_root` is where exports write objects (none: nowhere); `events` receives what Data Exchange
    sends EventBridge; an export job runs for `job_ticks` requests (None: until `end_jobs`), or for
    `job_seconds` on `clock` (a virtual clock the worker's sleeps move on, `lambda_bootstrap.VirtualClock`).

    Like a service under load, on request: `page_limit` answers every list with pages of at most that
    many items, whatever MaxResults asks; `list_lag` leaves a new event action out of ListEventActions
    for that many list calls (eventual consistency); `latency` (seconds) is how long every call takes, the
    service's pace (calls made at once overlap, as they do at the service); faults (`inject`) lose answers
    after the work, throttle or conflict; `end_jobs` ends every running job in one go;
    `publish(in_progress=True)` runs auto-export jobs that hold slots of the concurrent-export quota;
    `waiting_reads` makes a started job read WAITING that many times; `deny_exports_for` plays a new IAM grant
    not seen yet. `quotas` are the account's applied values of the adjustable quotas, by name, once Service
    Quotas raised them.

    Behind the stack's back, as another caller (the console, a script, a colleague) or the end of a
    subscription would: `change_event_action`, `delete_event_action`, `end_entitlement`, `end_subscription`.
    """

    def __init__(
        self,
        state_file: Path | None = None,
        account: str = ACCOUNT,
        answers: Answers = "as sent",
        s3_root: Path | None = None,
        events: EventSink | None = None,
        job_ticks: int | None = JOB_TICKS,
        page_limit: int | None = None,
        list_lag: int = 0,
        latency: float = 0.0,
        quotas: Mapping[str, int] | None = None,
        job_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        waiting_reads: int = 0,
    ) -> None:
        if latency < 0:
            raise ValueError(f"latency must not be negative, got {latency}")
        self.latency = latency
        self._quotas = _applied_quotas(quotas or {})
        self._state_file = state_file
        self._state = State.load(state_file)
        self._account = account
        self._answers = answers
        self._jobs = Jobs(self._state, account, s3_root, job_ticks, job_seconds, clock)
        self._jobs.waiting_reads = waiting_reads
        self.events = events
        self._revisions = Revisions(self._state, account, self._jobs, self._send)
        self._products = Products(self._state, account, self._send)
        self._page_limit = page_limit
        self._list_lag = list_lag
        self._unlisted: dict[str, int] = {}  # event action id -> list calls it is still left out of
        operations: dict[str, Operation] = {
            "CreateEventAction": self._create_event_action,
            "GetEventAction": self._get_event_action,
            "UpdateEventAction": self._update_event_action,
            "DeleteEventAction": self._delete_event_action,
            "ListEventActions": self._list_event_actions,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags_for_resource,
            "GetDataSet": self._revisions.get_data_set,
            "ListDataSets": self._products.list_data_sets,
            "ListDataSetRevisions": self._revisions.list_data_set_revisions,
            "GetRevision": self._revisions.get_revision,
            "CreateJob": self._jobs.create_job,
            "StartJob": self._jobs.start_job,
            "CancelJob": self._jobs.cancel_job,
            "GetJob": self._jobs.get_job,
            "ListJobs": self._jobs.list_jobs,
        }
        super().__init__(
            "dataexchange", {name: self._ticking(name, operation) for name, operation in operations.items()}
        )

    def event_actions(self) -> list[Item]:
        """What the endpoint stores: every Action as it was sent."""
        with self.lock:
            return copy.deepcopy(list(self._state.event_actions.values()))

    def data_sets(self) -> list[Item]:
        """The data sets the account is (or was) entitled to, and those it owns."""
        with self.lock:
            return copy.deepcopy(list(self._state.data_sets.values()))

    def revisions(self, data_set_id: str) -> list[Item]:
        with self.lock:
            return copy.deepcopy([item for item in self._state.revisions.values() if item["DataSetId"] == data_set_id])

    def jobs(self) -> list[Item]:
        with self.lock:
            return copy.deepcopy(list(self._state.jobs.values()))

    def entitle(self, data_set_id: str) -> Item:
        """The account subscribes to the data set (of a product made up for it), if it is not entitled yet."""
        with self.lock:
            data_set = self._revisions.entitle(data_set_id)
            self._save()
            return copy.deepcopy(data_set)

    def add_revision(
        self, data_set_id: str, asset_names: Sequence[str], *, finalized: bool = True, revoked: bool = False
    ) -> Item:
        """A revision the provider published before (no event action runs), for a backfill to find."""
        with self.lock:
            revision = self._revisions.add_revision(data_set_id, asset_names, finalized=finalized, revoked=revoked)
            self._save()
            return copy.deepcopy(revision)

    def revoke(self, revision_id: str) -> None:
        """The provider revokes a revision (RevokeRevision): it is listed as revoked, and no longer exported."""
        with self.lock:
            revision = self._state.revisions[revision_id]
            revision.update(Revoked=True, RevokedAt=now(), RevocationComment="Revoked by the provider")
            self._save()

    def publish(
        self, data_set_id: str, asset_names: Sequence[str], fail: str | None = None, *, in_progress: bool = False
    ) -> Publication:
        """The provider publishes a revision; every event action on the data set exports it, or fails to
        (`fail`: a cause of `dataexchange_jobs.FAILURES`), and Data Exchange sends its events: at once, or
        `in_progress`, in auto-export jobs that take slots of the concurrent-export quota until they end."""
        with self.lock:
            publication = self._revisions.publish(data_set_id, asset_names, fail, in_progress=in_progress)
            self._save()
        return copy.deepcopy(publication)

    def add_data_set(
        self, product_id: str, name: str, asset_type: str = "S3_SNAPSHOT", data_set_id: str | None = None
    ) -> Item:
        """The provider adds a data set to a product the account subscribes to (no event is sent)."""
        with self.lock:
            data_set = self._products.add_data_set(product_id, name, asset_type, data_set_id)
            self._save()
            return copy.deepcopy(data_set)

    def add_owned_data_set(self, name: str) -> Item:
        """The account, a provider too, makes a data set of its own: ListDataSets lists it as OWNED."""
        with self.lock:
            data_set = self._products.add_owned_data_set(name)
            self._save()
            return copy.deepcopy(data_set)

    def publish_data_sets(self, product_id: str, data_set_ids: Sequence[str]) -> Item:
        """Data Exchange sends `Data Sets Published To Product` for data sets added to the product."""
        with self.lock:
            return copy.deepcopy(self._products.publish_data_sets(product_id, data_set_ids))

    def end_entitlement(self, data_set_id: str) -> None:
        """The account is no longer entitled to the data set (its subscription ended)."""
        with self.lock:
            self._products.end_entitlement(data_set_id)
            self._save()

    def end_subscription(self, product_id: str) -> list[str]:
        """The account's subscription to the product ends: none of its data sets is entitled any longer. Their
        event actions stay (what the service does with them is undocumented). Returns the data sets."""
        with self.lock:
            ended = self._products.end_subscription(product_id)
            self._save()
            return ended

    def change_event_action(
        self, event_action_id: str, action: Mapping[str, Any] | None = None, data_set_id: str | None = None
    ) -> Item:
        """Someone else changes the event action: its Action, as their UpdateEventAction would (checked by the
        service's rules, UpdatedAt new); or its data set, which no API call can change: a way to make the event
        action disagree with what a stack deployed in its Event too, for a check that must not take it on trust."""
        with self.lock:
            item = self._state.event_actions[event_action_id]
            if action is not None:
                rules.check_export_action(action)
                item["Action"] = copy.deepcopy(dict(action))
            if data_set_id is not None:
                rules.check_identifier(data_set_id, "DataSetId")
                item["Event"] = {"RevisionPublished": {"DataSetId": data_set_id}}
            item["UpdatedAt"] = now()
            self._save()
            return copy.deepcopy(item)

    def delete_event_action(self, event_action_id: str) -> None:
        """Someone else deletes the event action (the console, a script), as their DeleteEventAction would."""
        with self.lock:
            del self._state.event_actions[event_action_id]
            self._unlisted.pop(event_action_id, None)
            self._save()

    def fail_next_export(self, revision_id: str, cause: str, times: int = 1) -> None:
        """The next `times` export jobs of the revision end in ERROR for `cause` (of `dataexchange_jobs.FAILURES`)."""
        with self.lock:
            self._jobs.fail_next_export(revision_id, cause, times)

    @property
    def job_ticks(self) -> int | None:
        """How many requests a started job runs from now on; None holds running jobs until `end_jobs`."""
        return self._jobs.job_ticks

    @job_ticks.setter
    def job_ticks(self, ticks: int | None) -> None:
        with self.lock:
            self._jobs.job_ticks = ticks

    def deny_exports_for(self, seconds: float) -> None:
        """Export jobs started in the next `seconds` (on the jobs' clock) end in ACCESS_DENIED_EXCEPTION, as a
        grant the caller was just given is not seen yet (IAM is eventually consistent)."""
        with self.lock:
            self._jobs.deny_exports_for(seconds)

    def end_jobs(self) -> int:
        """Every export job in progress ends now, as planned (so one poll round sees them all ended);
        returns how many."""
        with self.lock:
            ended = self._jobs.end_running()
            self._save()
        return ended

    def _send(self, event: Item) -> None:
        """An event for the account's default bus, wherever `events` (settable) takes it."""
        if self.events is not None:
            self.events(event)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        # The service's pace, outside the lock: calls made at once take it at once.
        if self.latency:
            time.sleep(self.latency)
        return super().handle(method, target, headers, body)

    def _ticking(self, name: str, operation: Operation) -> Operation:
        input_shape = service_model("dataexchange").operation_model(name).input_shape
        paged = input_shape is not None and "MaxResults" in input_shape.members

        def ticked(params: dict[str, Any], request: Request) -> Mapping[str, Any] | None:
            self._jobs.tick()
            if paged and self._page_limit is not None:
                asked = params.get("MaxResults", DEFAULT_PAGE_SIZE)
                params = {**params, "MaxResults": min(asked, self._page_limit)}
            output = operation(params, request)
            self._save()
            return output

        return ticked

    def _save(self) -> None:
        self._state.save(self._state_file)

    def _answer(self, item: Mapping[str, Any]) -> dict[str, Any]:
        answer = {**item, "Action": _answered(item["Action"], self._answers)}
        # Tags is an optional member of the answers (API model): an untagged event action comes without it,
        # so no client here can count on finding it.
        if not answer["Tags"]:
            del answer["Tags"]
        return answer

    def _arn(self, request: Request, event_action_id: str) -> str:
        return arn(request.region, self._account, f"event-actions/{event_action_id}")

    def _event_action(self, event_action_id: str, request: Request, action: str) -> dict[str, Any]:
        rules.check_identifier(event_action_id, "EventActionId")
        request.authorize(action, self._arn(request, event_action_id))
        item = self._state.event_actions.get(event_action_id)
        if item is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Event action {event_action_id} was not found",
                ResourceId=event_action_id,
                ResourceType="EVENT_ACTION",
            )
        return item

    def _by_arn(self, arn: str, request: Request, action: str) -> dict[str, Any]:
        request.authorize(action, arn)
        for item in self._state.event_actions.values():
            if item["Arn"] == arn:
                return item
        kind = {"ResourceType": "EVENT_ACTION"} if ":event-actions/" in arn else {}
        raise ServiceError("ResourceNotFoundException", f"Resource {arn} was not found", ResourceId=arn, **kind)

    def _authorize_as_caller(self, request: Request, action: Mapping[str, Any], data_set_id: str, grant: str) -> None:
        """What the service does with the caller's permissions while it sets up or removes an export:
        a grant on an SSE-KMS key, and a look at the data set for a ${DataSet.Name} key pattern
        (an entitled data set's ARN has no account)."""
        export = action["ExportRevisionToS3"]
        key = rules.kms_key(export)
        if key:
            # The service takes (and revokes) the grant for itself, on the caller's behalf.
            request.authorize(grant, key, **{"kms:GrantIsForAWSResource": "true"})
        if rules.names_data_set(export["RevisionDestination"].get("KeyPattern", "")):
            request.authorize("dataexchange:GetDataSet", entitled_arn(request.region, f"data-sets/{data_set_id}"))

    def _create_event_action(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        event_action_id = new_id()
        arn = self._arn(request, event_action_id)
        request.authorize("dataexchange:CreateEventAction", arn)
        tags = params.get("Tags") or {}
        if tags:
            request.authorize("dataexchange:TagResource", arn)
        rules.check_export_action(params["Action"])
        data_set_id = _data_set_of(params["Event"])
        rules.check_tags(tags)
        self._authorize_as_caller(request, params["Action"], data_set_id, "kms:CreateGrant")
        on_data_set = sum(
            1 for item in self._state.event_actions.values() if _data_set_of(item["Event"]) == data_set_id
        )
        per_data_set, per_account = self._quotas[rules.PER_DATA_SET_QUOTA], self._quotas[rules.PER_ACCOUNT_QUOTA]
        if on_data_set >= per_data_set:
            raise rules.quota_exceeded(
                rules.PER_DATA_SET_QUOTA,
                per_data_set,
                f"Data set {data_set_id} already has {on_data_set} auto-export event actions",
            )
        if len(self._state.event_actions) >= per_account:
            raise rules.quota_exceeded(
                rules.PER_ACCOUNT_QUOTA,
                per_account,
                f"The account already has {len(self._state.event_actions)} event actions",
            )
        created = now()
        item = {
            "Id": event_action_id,
            "Arn": arn,
            "Action": params["Action"],
            "Event": params["Event"],
            "Tags": dict(tags),
            "CreatedAt": created,
            "UpdatedAt": created,
        }
        self._state.event_actions[event_action_id] = item
        if self._list_lag:
            self._unlisted[event_action_id] = self._list_lag
        return self._answer(item)

    def _get_event_action(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        return self._answer(self._event_action(params["EventActionId"], request, "dataexchange:GetEventAction"))

    def _update_event_action(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        item = self._event_action(params["EventActionId"], request, "dataexchange:UpdateEventAction")
        if "Action" in params:
            rules.check_export_action(params["Action"])
            self._authorize_as_caller(request, params["Action"], _data_set_of(item["Event"]), "kms:CreateGrant")
            item["Action"] = params["Action"]
        item["UpdatedAt"] = now()
        return self._answer(item)

    def _delete_event_action(self, params: dict[str, Any], request: Request) -> None:
        item = self._event_action(params["EventActionId"], request, "dataexchange:DeleteEventAction")
        key = rules.kms_key(item["Action"]["ExportRevisionToS3"])
        if key:
            request.authorize("kms:RevokeGrant", key, **{"kms:GrantIsForAWSResource": "true"})
        del self._state.event_actions[item["Id"]]
        self._unlisted.pop(item["Id"], None)

    def _list_event_actions(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        # No resource-level permissions: "*" is the only resource the action accepts.
        request.authorize("dataexchange:ListEventActions", "*")
        data_set_id = params.get("EventSourceId")
        if data_set_id is not None:
            rules.check_identifier(data_set_id, "EventSourceId")
        items = [
            self._answer(item)
            for item in self._state.event_actions.values()
            if (data_set_id is None or _data_set_of(item["Event"]) == data_set_id) and item["Id"] not in self._unlisted
        ]
        # Each list call brings what lags one call nearer to being listed.
        self._unlisted = {key: calls - 1 for key, calls in self._unlisted.items() if calls > 1}
        return page(items, params, "EventActions")

    def _tag_resource(self, params: dict[str, Any], request: Request) -> None:
        item = self._by_arn(params["ResourceArn"], request, "dataexchange:TagResource")
        tags = {**item["Tags"], **params["Tags"]}
        rules.check_tags(tags)
        item["Tags"] = tags

    def _untag_resource(self, params: dict[str, Any], request: Request) -> None:
        item = self._by_arn(params["ResourceArn"], request, "dataexchange:UntagResource")
        item["Tags"] = {key: value for key, value in item["Tags"].items() if key not in params["TagKeys"]}

    def _list_tags_for_resource(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        return {"Tags": self._by_arn(params["ResourceArn"], request, "dataexchange:ListTagsForResource")["Tags"]}
