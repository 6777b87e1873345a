"""Create, update and delete one Data Exchange event action: plain functions over a boto3 client.

Nothing here knows about crhelper or CloudFormation's wire format; the glue in `index.py` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError

from .properties import ID_PATTERN, LOGICAL_ID_TAG, STACK_ID_TAG, EventActionProperties

if TYPE_CHECKING:
    from mypy_boto3_dataexchange import DataExchangeClient
    from mypy_boto3_dataexchange.type_defs import (
        CreateEventActionResponseTypeDef,
        GetEventActionResponseTypeDef,
        UpdateEventActionResponseTypeDef,
    )

    EventActionResponse = (
        CreateEventActionResponseTypeDef | GetEventActionResponseTypeDef | UpdateEventActionResponseTypeDef
    )

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Sized to the function's 60 s timeout: standard mode backs off at most 1+2+4+8+16 s between 6 attempts
# (total_max_attempts counts the first call; max_attempts would count only retries), so a burst of
# throttling is ridden out and a persistent failure is still reported well before the timeout.
RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 6},
    connect_timeout=5,
    read_timeout=15,
)

# CloudFormation shows at most this much of a reason, and crhelper keeps only the tail of a longer one.
MAX_REASON_LENGTH = 256


class EventActionError(Exception):
    """A failed call, explained in a sentence a person can act on (the most useful part first)."""


@dataclass(frozen=True)
class Owner:
    """The stack resource an event action belongs to: how a repeated Create finds its own."""

    stack_id: str
    logical_id: str

    def tags(self) -> dict[str, str]:
        return {STACK_ID_TAG: self.stack_id, LOGICAL_ID_TAG: self.logical_id}

    def owns(self, tags: Mapping[str, str]) -> bool:
        return all(tags.get(key) == value for key, value in self.tags().items())


@dataclass(frozen=True)
class EventAction:
    id: str
    arn: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_response(cls, response: EventActionResponse) -> EventAction:
        return cls(response["Id"], response["Arn"], response["CreatedAt"], response["UpdatedAt"])

    def data(self) -> dict[str, str]:
        """CloudFormation attributes: strings only (a datetime makes crhelper send a malformed response)."""
        return {
            "Arn": self.arn,
            "Id": self.id,
            "CreatedAt": self.created_at.isoformat(),
            "UpdatedAt": self.updated_at.isoformat(),
        }


def create_event_action(client: DataExchangeClient, properties: EventActionProperties, owner: Owner) -> EventAction:
    """Creates the event action, or adopts the one an earlier delivery of this Create already made."""
    existing = find_owned_event_action(client, properties.data_set_id, owner)
    if existing is not None:
        logger.info("Adopting event action %s created earlier for this resource", existing["Id"])
        return reconcile_event_action(client, existing, properties, owner)
    response = _call(
        "CreateEventAction",
        properties,
        lambda: client.create_event_action(
            Action=properties.action(),
            Event=properties.event(),
            Tags={**properties.tags, **owner.tags()},
        ),
    )
    logger.info("Created event action %s for data set %s", response["Id"], properties.data_set_id)
    return EventAction.from_response(response)


def update_event_action(
    client: DataExchangeClient,
    event_action_id: str,
    properties: EventActionProperties,
    old_data_set_id: str | None,
    owner: Owner,
) -> EventAction:
    """Updates in place, or creates a replacement when the data set changed or the old one is gone.

    A replacement has a new id; CloudFormation then sends a Delete for the old one.
    """
    if old_data_set_id != properties.data_set_id:
        logger.info("Data set changed from %s to %s: replacing", old_data_set_id, properties.data_set_id)
        return create_event_action(client, properties, owner)
    current = get_event_action(client, event_action_id, properties)
    if current is None:
        logger.warning("Event action %s no longer exists: creating a new one", event_action_id)
        return create_event_action(client, properties, owner)
    return reconcile_event_action(client, current, properties, owner)


def delete_event_action(client: DataExchangeClient, physical_id: str) -> None:
    """Deletes the event action; one that is already gone, or was never made, is not an error."""
    if not ID_PATTERN.match(physical_id):
        # crhelper reports an invented id for a Create that failed before an event action existed.
        logger.info("Physical id %r is not an event action id: nothing to delete", physical_id)
        return
    try:
        _call("DeleteEventAction", None, lambda: client.delete_event_action(EventActionId=physical_id))
    except EventActionError as error:
        if not isinstance(error.__cause__, client.exceptions.ResourceNotFoundException):
            raise
        logger.info("Event action %s was already deleted", physical_id)
        return
    logger.info("Deleted event action %s", physical_id)


def get_event_action(
    client: DataExchangeClient, event_action_id: str, properties: EventActionProperties | None
) -> GetEventActionResponseTypeDef | None:
    if not ID_PATTERN.match(event_action_id):
        return None
    try:
        return _call("GetEventAction", properties, lambda: client.get_event_action(EventActionId=event_action_id))
    except EventActionError as error:
        if isinstance(error.__cause__, client.exceptions.ResourceNotFoundException):
            return None
        raise


def find_owned_event_action(
    client: DataExchangeClient, data_set_id: str, owner: Owner
) -> GetEventActionResponseTypeDef | None:
    # List entries carry no tags, so each candidate is read in full; the service allows 5 per data set.
    pages = client.get_paginator("list_event_actions").paginate(EventSourceId=data_set_id)
    for page in _call("ListEventActions", None, lambda: list(pages)):
        for entry in page["EventActions"]:
            candidate = get_event_action(client, entry["Id"], None)
            if candidate is not None and owner.owns(candidate.get("Tags", {})):
                return candidate
    return None


def reconcile_event_action(
    client: DataExchangeClient,
    current: GetEventActionResponseTypeDef,
    properties: EventActionProperties,
    owner: Owner,
) -> EventAction:
    """Brings an existing event action's Action and tags in line with the properties."""
    event_action: EventAction = EventAction.from_response(current)
    action = properties.action()
    if current["Action"] != action:
        updated = _call(
            "UpdateEventAction",
            properties,
            lambda: client.update_event_action(EventActionId=current["Id"], Action=action),
        )
        event_action = EventAction.from_response(updated)
        logger.info("Updated event action %s", current["Id"])

    wanted = {**properties.tags, **owner.tags()}
    present = current.get("Tags", {})
    stale = sorted(key for key in present if key not in wanted)
    changed = {key: value for key, value in wanted.items() if present.get(key) != value}
    if stale:
        _call(
            "UntagResource",
            properties,
            lambda: client.untag_resource(ResourceArn=event_action.arn, TagKeys=stale),
        )
    if changed:
        _call("TagResource", properties, lambda: client.tag_resource(ResourceArn=event_action.arn, Tags=changed))
    return event_action


def _call(operation: str, properties: EventActionProperties | None, call: Callable[[], T]) -> T:
    try:
        return call()
    except ClientError as error:
        raise EventActionError(explain(operation, error, properties)) from error


def explain(operation: str, error: ClientError, properties: EventActionProperties | None) -> str:
    """Turns a service error into a short reason: what to fix first, the service's words after."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    details: Mapping[str, Any] = error.response  # modeled error members sit beside "Error"
    bucket = properties.bucket if properties else "?"
    cause = details.get("ExceptionCause")
    if code == "ValidationException" and cause == "InsufficientS3BucketPolicy":
        reason = (
            f"{operation}: bucket {bucket} has no policy letting dataexchange.amazonaws.com "
            f"s3:PutObject (InsufficientS3BucketPolicy). {message}"
        )
    elif code == "ValidationException" and cause == "S3AccessDenied":
        reason = (
            f"{operation}: Data Exchange cannot write to bucket {bucket} (S3AccessDenied): check its policy, "
            f"KMS key and that Requester Pays is off. {message}"
        )
    elif code == "ServiceLimitExceededException":
        limit = details.get("LimitValue", "?")
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit  # modeled as a double
        reason = (
            f"{operation}: quota '{details.get('LimitName', 'unknown')}' ({limit}) "
            "reached; delete an unused event action or request a quota increase. "
            f"{message}"
        )
    elif code == "AccessDeniedException":
        reason = (
            f"{operation}: access denied; the handler role needs dataexchange:{operation}"
            f"{' and kms:CreateGrant on the key' if properties and properties.kms_key_arn else ''}. {message}"
        )
    elif (
        code in ("ThrottlingException", "InternalServerException")
        or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
    ):
        attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        reason = f"{operation}: {code} after {attempts} attempts; retry the deployment later. {message}"
    else:
        reason = f"{operation}: {code}: {message}"
    return _shorten(reason.strip())


def _shorten(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_LENGTH else reason[: MAX_REASON_LENGTH - 3] + "..."
