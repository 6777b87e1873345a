"""Create, update and delete one Data Exchange event action: plain functions over a boto3 client.

Nothing here knows about crhelper or CloudFormation's wire format; the glue in `index.py` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from .contract import BACKFILL_TAG, LOGICAL_ID_TAG, PRODUCT_ID_TAG, STACK_ID_TAG, Attribute
from .properties import EventActionProperties
from .rules import ID_PATTERN

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

# CloudFormation shows at most this much of a reason, and crhelper keeps only the tail of a longer one.
MAX_REASON_LENGTH = 256
# The calls that name the data set: the first to fail when the account cannot see it.
DATA_SET_LOOKUPS = ("ListEventActions", "CreateEventAction")


class EventActionError(Exception):
    """A failed call, explained in a sentence a person can act on (the most useful part first)."""


@dataclass(frozen=True)
class Owner:
    """The stack resource an event action belongs to: how a repeated Create finds its own. A product's
    resource owns one per data set, of its product (a new product is a new resource to CloudFormation)."""

    stack_id: str
    logical_id: str
    product_id: str | None = None

    def tags(self) -> dict[str, str]:
        tags = {STACK_ID_TAG: self.stack_id, LOGICAL_ID_TAG: self.logical_id}
        if self.product_id is not None:
            tags[PRODUCT_ID_TAG] = self.product_id
        return tags

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
            Attribute.ARN: self.arn,
            Attribute.ID: self.id,
            Attribute.CREATED_AT: self.created_at.isoformat(),
            Attribute.UPDATED_AT: self.updated_at.isoformat(),
        }


def create_event_action(
    client: DataExchangeClient,
    properties: EventActionProperties,
    owner: Owner,
    existing: list[GetEventActionResponseTypeDef] | None = None,
) -> EventAction:
    """Creates the event action, or takes one that already exists instead of making a second.

    One this resource made (an earlier delivery of the same Create) is always taken. One made outside
    the stack that exports to the same destination is taken over when `adopt_existing` is set, and
    otherwise fails the Create: two would export every revision twice. `existing` are the data set's event
    actions, read in full, if the caller has just read them. After creating one, the data set's are read
    again and one is kept (`keep_oldest`).
    """
    if existing is None:
        existing = list_event_actions(client, properties)
    owned = next((candidate for candidate in existing if owner.owns(candidate.get("Tags", {}))), None)
    if owned is not None:
        logger.info("Taking event action %s, created earlier for this resource", owned["Id"])
        return reconcile_event_action(client, owned, properties, owner)
    export = properties.export
    duplicate = next((candidate for candidate in existing if export.exports_like(candidate["Action"])), None)
    if duplicate is not None:
        if not export.adopt_existing:
            raise EventActionError(shorten(_already_exported(duplicate, properties)))
        logger.info("Adopting event action %s, which already exports to %s", duplicate["Id"], export.bucket)
        return reconcile_event_action(client, duplicate, properties, owner)
    response = _call(
        client,
        "CreateEventAction",
        properties,
        lambda: client.create_event_action(
            Action=export.action(),
            Event=properties.event(),
            Tags={**export.tags, **owner.tags()},
        ),
    )
    logger.info("Created event action %s for data set %s", response["Id"], properties.data_set_id)
    return keep_oldest(client, properties, owner) or EventAction.from_response(response)


def oldest_first(items: Iterable[GetEventActionResponseTypeDef]) -> list[GetEventActionResponseTypeDef]:
    """By CreatedAt, then Id: an order every run sees alike."""
    return sorted(items, key=lambda item: (item["CreatedAt"], item["Id"]))


def keep_oldest(client: DataExchangeClient, properties: EventActionProperties, owner: Owner) -> EventAction | None:
    """Reads the data set's event actions again: of those the owner has, the oldest (by CreatedAt, then Id) stays
    and the others go, whichever run does this. Two get made when a CreateEventAction whose answer was lost is
    sent again by botocore (the API takes no client token), or when two deliveries of one Create, or two
    reconciles of a product, run at once; every run keeps the same one. Returns it (None while the list does not
    show the new one yet: a later run removes the extra one then)."""
    mine = oldest_first(item for item in list_event_actions(client, properties) if owner.owns(item.get("Tags", {})))
    for extra in mine[1:]:
        logger.info("Event action %s duplicates %s: deleting it", extra["Id"], mine[0]["Id"])
        delete_event_action(client, extra["Id"])
    return EventAction.from_response(mine[0]) if mine else None


def _already_exported(duplicate: GetEventActionResponseTypeDef, properties: EventActionProperties) -> str:
    made_by = duplicate.get("Tags", {}).get(STACK_ID_TAG)
    return (
        f"Event action {duplicate['Id']} already exports data set {properties.data_set_id} to bucket "
        f"{properties.export.bucket}{f' (made by stack {made_by})' if made_by else ''}: delete it, or set "
        "adopt_existing=True to manage it from this stack."
    )


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
    current = get_event_action(client, event_action_id)
    if current is None:
        logger.warning("Event action %s no longer exists: creating a new one", event_action_id)
        return create_event_action(client, properties, owner)
    return reconcile_event_action(client, current, properties, owner)


def is_event_action_id(physical_id: str | None) -> bool:
    return physical_id is not None and ID_PATTERN.match(physical_id) is not None


def delete_event_action(client: DataExchangeClient, physical_id: str) -> None:
    """Deletes the event action; one that is already gone, or was never made, is not an error."""
    if not is_event_action_id(physical_id):
        logger.info("Physical id %r is not an event action id: nothing to delete", physical_id)
        return
    try:
        _call(client, "DeleteEventAction", None, lambda: client.delete_event_action(EventActionId=physical_id))
    except EventActionError as error:
        if not isinstance(error.__cause__, client.exceptions.ResourceNotFoundException):
            raise
        logger.info("Event action %s was already deleted", physical_id)
        return
    logger.info("Deleted event action %s", physical_id)


def delete_owned_event_action(client: DataExchangeClient, physical_id: str, owner: Owner) -> None:
    """A resource's Delete: the event action goes unless another resource took it over since (adopted it, as a
    construct renamed or moved to another provider does with adopt_existing); then it stays, exporting for
    its new owner. One without ownership tags (made before they existed) is this resource's."""
    current = get_event_action(client, physical_id)
    tags = current.get("Tags", {}) if current is not None else {}
    claimed = STACK_ID_TAG in tags or LOGICAL_ID_TAG in tags
    if claimed and not owner.owns(tags):
        logger.info(
            "Event action %s now belongs to %s of stack %s: left in place",
            physical_id,
            tags.get(LOGICAL_ID_TAG),
            tags.get(STACK_ID_TAG),
        )
        return
    delete_event_action(client, physical_id)


def delete_made_by(client: DataExchangeClient, properties: EventActionProperties, owner: Owner) -> list[str]:
    """Deletes every event action of the data set that `owner` owns; returns their ids. For a Delete whose physical
    id is no event action's: crhelper's, after a Create that failed (perhaps after making one), or CloudFormation's
    own, for a Create it cancelled while it ran (aws-cdk issue 26139), which may have made one already. A data set
    the account cannot see has none."""
    try:
        found = list_event_actions(client, properties)
    except EventActionError as error:
        if not isinstance(error.__cause__, client.exceptions.ResourceNotFoundException):
            raise
        return []
    mine = [item["Id"] for item in found if owner.owns(item.get("Tags", {}))]
    for event_action_id in mine:
        delete_event_action(client, event_action_id)
    return mine


def get_event_action(client: DataExchangeClient, event_action_id: str) -> GetEventActionResponseTypeDef | None:
    if not is_event_action_id(event_action_id):
        return None
    try:
        return _call(client, "GetEventAction", None, lambda: client.get_event_action(EventActionId=event_action_id))
    except EventActionError as error:
        if isinstance(error.__cause__, client.exceptions.ResourceNotFoundException):
            return None
        raise


def list_event_actions(
    client: DataExchangeClient, properties: EventActionProperties
) -> list[GetEventActionResponseTypeDef]:
    """Every event action of the data set, read in full: list entries carry no tags. The service allows
    5 per data set, but pages may be smaller than that, so every page is read."""
    pages = client.get_paginator("list_event_actions").paginate(EventSourceId=properties.data_set_id)
    listed = _call(client, "ListEventActions", properties, lambda: list(pages))
    found = (get_event_action(client, entry["Id"]) for page in listed for entry in page["EventActions"])
    return [event_action for event_action in found if event_action is not None]


def reconcile_event_action(
    client: DataExchangeClient,
    current: GetEventActionResponseTypeDef,
    properties: EventActionProperties,
    owner: Owner,
) -> EventAction:
    """Brings an existing event action's Action and tags in line with the properties."""
    event_action: EventAction = EventAction.from_response(current)
    action = properties.export.action()
    # Compared for meaning, not spelling: the service may answer with defaults filled in or left out.
    if not properties.export.exports_like(current["Action"]):
        updated = _call(
            client,
            "UpdateEventAction",
            properties,
            lambda: client.update_event_action(EventActionId=current["Id"], Action=action),
        )
        event_action = EventAction.from_response(updated)
        logger.info("Updated event action %s", current["Id"])

    wanted = {**properties.export.tags, **owner.tags()}
    present = current.get("Tags", {})
    # The backfill's tag is the worker's to keep: without it, a chain still running could not tell a newer one.
    stale = sorted(key for key in present if key not in wanted and key != BACKFILL_TAG)
    changed = {key: value for key, value in wanted.items() if present.get(key) != value}
    if stale:
        _call(client, "UntagResource", None, lambda: client.untag_resource(ResourceArn=event_action.arn, TagKeys=stale))
    if changed:
        _call(client, "TagResource", None, lambda: client.tag_resource(ResourceArn=event_action.arn, Tags=changed))
    return event_action


def _call(
    client: DataExchangeClient, operation: str, properties: EventActionProperties | None, call: Callable[[], T]
) -> T:
    try:
        return call()
    except ClientError as error:
        raise EventActionError(explain(operation, error, properties, client.meta.region_name)) from error


def explain(operation: str, error: ClientError, properties: EventActionProperties | None, region: str) -> str:
    """Turns a service error into a short reason: what to fix first, the service's words after."""
    # botocore's parsers fill in Error's Code and Message and the response's status for every service error.
    code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    details: Mapping[str, Any] = error.response  # modeled error members sit beside "Error"
    cause = details.get("ExceptionCause")
    if code == "ResourceNotFoundException" and operation in DATA_SET_LOOKUPS and properties:
        reason = (
            f"{operation}: data set {properties.data_set_id} not found in {region}. Deploy the stack in the "
            "Region where the provider published the data set (an event action lives in its data set's "
            f"Region) and check that this account is subscribed to it. {message}"
        )
    elif code == "ValidationException" and cause == "InsufficientS3BucketPolicy" and properties:
        reason = (
            f"{operation}: bucket {properties.export.bucket} has no policy letting dataexchange.amazonaws.com "
            f"s3:PutObject (InsufficientS3BucketPolicy). {message}"
        )
    elif code == "ValidationException" and cause == "S3AccessDenied" and properties:
        reason = (
            f"{operation}: Data Exchange cannot write to bucket {properties.export.bucket} (S3AccessDenied): check its "
            f"policy, KMS key and that Requester Pays is off. {message}"
        )
    elif (quota := exceeded_quota(error)) is not None:
        reason = f"{operation}: {quota} reached; delete an unused event action or request a quota increase. {message}"
    elif code == "AccessDeniedException":
        reason = (
            f"{operation}: access denied; the handler role needs dataexchange:{operation}"
            f"{' and kms:CreateGrant on the key' if properties and properties.export.kms_key_arn else ''}. {message}"
        )
    elif code == "ThrottlingException" or status >= 500:
        # botocore sets RetryAttempts in the metadata of every answer it parsed, an error's included.
        attempts = error.response["ResponseMetadata"]["RetryAttempts"] + 1
        reason = f"{operation}: {code} after {attempts} attempts; retry the deployment later. {message}"
    else:
        reason = f"{operation}: {code}: {message}"
    return shorten(reason.strip())


def exceeded_quota(error: ClientError) -> str | None:
    """The quota a ServiceLimitExceededException names, as a person reads it ("quota 'Event actions per
    account' (50)"); None for any other error. Its LimitName and LimitValue are optional (API model)."""
    details: Mapping[str, Any] = error.response
    if details["Error"]["Code"] != "ServiceLimitExceededException":
        return None
    name, limit = details.get("LimitName"), details.get("LimitValue")
    quota = f"quota '{name}'" if name is not None else "an unnamed quota"
    # LimitValue is modeled as a double: 50.0 reads as 50.
    return quota if limit is None else f"{quota} ({limit:.15g})"


def shorten(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_LENGTH else reason[: MAX_REASON_LENGTH - 3] + "..."
