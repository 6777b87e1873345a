"""The local Data Exchange: its state and the operations an unmodified boto3 client can call on it."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from ..account import ACCOUNT, REGION, partition_of
from ..files import write_atomically
from . import dataexchange_rules as rules
from .restjson import Operation, ServiceError, validation_error
from .server import LocalEndpoint

if TYPE_CHECKING:
    from mypy_boto3_dataexchange import DataExchangeClient

# The service's default page size is undocumented. A small one makes every client that forgets to
# follow NextToken miss results here, as it eventually would against the service.
DEFAULT_PAGE_SIZE = 3
_ID_ALPHABET = string.ascii_letters + string.digits


def local_client(url: str, *, region: str = REGION, config: Config | None = None) -> DataExchangeClient:
    """An unmodified boto3 Data Exchange client for a local endpoint, with throwaway credentials."""
    return boto3.client(
        "dataexchange",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def new_id() -> str:
    """An id of the full documented shape (30 to 40 letters and digits, mixed case), so that a client
    assuming the 32 lowercase hex digits the service usually issues fails here."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(30 + secrets.randbelow(11)))


def _now() -> str:
    # Microseconds internally keep creation order and UpdatedAt > CreatedAt; the wire gets milliseconds.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _data_set_of(event: Mapping[str, Any] | None) -> str:
    published = (event or {}).get("RevisionPublished")
    if published is None:
        raise validation_error("Event.RevisionPublished: required member is missing")
    data_set_id: str = published["DataSetId"]
    rules.check_identifier(data_set_id, "Event.RevisionPublished.DataSetId")
    return data_set_id


def _encode_token(item: Mapping[str, Any]) -> str:
    # Position by (CreatedAt, Id) rather than by index, so deleting between pages skips nothing.
    return base64.urlsafe_b64encode(json.dumps([item["CreatedAt"], item["Id"]]).encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        created_at, item_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise validation_error(f"NextToken {token!r} is not valid") from None
    return str(created_at), str(item_id)


def page(items: list[dict[str, Any]], params: Mapping[str, Any], key: str) -> dict[str, Any]:
    """One page of `items` (sorted by CreatedAt, then Id) under `key`, with a NextToken if more follow."""
    if "NextToken" in params:
        after = _decode_token(params["NextToken"])
        items = [item for item in items if (item["CreatedAt"], item["Id"]) > after]
    size = params.get("MaxResults", DEFAULT_PAGE_SIZE)
    output: dict[str, Any] = {key: items[:size]}
    if len(items) > size:
        output["NextToken"] = _encode_token(items[size - 1])
    return output


class LocalDataExchange(LocalEndpoint):
    """Data Exchange's event actions and tags, served over HTTP, with fault injection and a call log.

    Every well-formed data set id is taken to be one the account is entitled to.
    """

    def __init__(self, state_file: Path | None = None, account: str = ACCOUNT) -> None:
        operations: dict[str, Operation] = {
            "CreateEventAction": self._create_event_action,
            "GetEventAction": self._get_event_action,
            "UpdateEventAction": self._update_event_action,
            "DeleteEventAction": self._delete_event_action,
            "ListEventActions": self._list_event_actions,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags_for_resource,
        }
        super().__init__("dataexchange", operations)
        self._state_file = state_file
        self._account = account
        self._event_actions: dict[str, dict[str, Any]] = {}
        if state_file is not None and state_file.exists() and state_file.stat().st_size:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            self._event_actions = {item["Id"]: item for item in state["EventActions"]}

    def event_actions(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._event_actions.values()))

    def _save(self) -> None:
        if self._state_file is None:
            return
        state = {"EventActions": list(self._event_actions.values())}
        write_atomically(self._state_file, json.dumps(state, indent=2, sort_keys=True))

    def _event_action(self, event_action_id: str) -> dict[str, Any]:
        rules.check_identifier(event_action_id, "EventActionId")
        item = self._event_actions.get(event_action_id)
        if item is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Event action {event_action_id} was not found",
                ResourceId=event_action_id,
                ResourceType="EVENT_ACTION",
            )
        return item

    def _by_arn(self, arn: str) -> dict[str, Any]:
        for item in self._event_actions.values():
            if item["Arn"] == arn:
                return item
        kind = {"ResourceType": "EVENT_ACTION"} if ":event-actions/" in arn else {}
        raise ServiceError("ResourceNotFoundException", f"Resource {arn} was not found", ResourceId=arn, **kind)

    def _create_event_action(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        rules.check_export_action(params["Action"])
        data_set_id = _data_set_of(params["Event"])
        tags = params.get("Tags") or {}
        rules.check_tags(tags)
        on_data_set = sum(1 for item in self._event_actions.values() if _data_set_of(item["Event"]) == data_set_id)
        if on_data_set >= rules.EVENT_ACTIONS_PER_DATA_SET:
            raise rules.quota_exceeded(
                "Auto export event actions per data set",
                rules.EVENT_ACTIONS_PER_DATA_SET,
                f"Data set {data_set_id} already has {on_data_set} auto-export event actions",
            )
        if len(self._event_actions) >= rules.EVENT_ACTIONS_PER_ACCOUNT:
            raise rules.quota_exceeded(
                "Event actions per account",
                rules.EVENT_ACTIONS_PER_ACCOUNT,
                f"The account already has {len(self._event_actions)} event actions",
            )
        event_action_id, now = new_id(), _now()
        item = {
            "Id": event_action_id,
            "Arn": f"arn:{partition_of(region)}:dataexchange:{region}:{self._account}:event-actions/{event_action_id}",
            "Action": params["Action"],
            "Event": params["Event"],
            "Tags": dict(tags),
            "CreatedAt": now,
            "UpdatedAt": now,
        }
        self._event_actions[event_action_id] = item
        self._save()
        return item

    def _get_event_action(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        return self._event_action(params["EventActionId"])

    def _update_event_action(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        item = self._event_action(params["EventActionId"])
        if "Action" in params:
            rules.check_export_action(params["Action"])
            item["Action"] = params["Action"]
        item["UpdatedAt"] = _now()
        self._save()
        return item

    def _delete_event_action(self, params: dict[str, Any], region: str) -> None:
        del self._event_actions[self._event_action(params["EventActionId"])["Id"]]
        self._save()

    def _list_event_actions(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        data_set_id = params.get("EventSourceId")
        if data_set_id is not None:
            rules.check_identifier(data_set_id, "EventSourceId")
        items = sorted(
            (
                item
                for item in self._event_actions.values()
                if data_set_id is None or _data_set_of(item["Event"]) == data_set_id
            ),
            key=lambda item: (item["CreatedAt"], item["Id"]),
        )
        return page(items, params, "EventActions")

    def _tag_resource(self, params: dict[str, Any], region: str) -> None:
        item = self._by_arn(params["ResourceArn"])
        tags = {**item["Tags"], **params["Tags"]}
        rules.check_tags(tags)
        item["Tags"] = tags
        self._save()

    def _untag_resource(self, params: dict[str, Any], region: str) -> None:
        item = self._by_arn(params["ResourceArn"])
        item["Tags"] = {key: value for key, value in item["Tags"].items() if key not in params["TagKeys"]}
        self._save()

    def _list_tags_for_resource(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        return {"Tags": self._by_arn(params["ResourceArn"])["Tags"]}
