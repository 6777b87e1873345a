"""Follow a subscribed product: one owned event action per exportable data set, made, adopted, updated or
deleted to match what the account is entitled to now. Plain functions over a boto3 client.

A reconcile may run on a deploy, on Data Exchange's event and on a schedule, all at once: nothing here holds
a lock. Each run makes what is missing, then reads the data set's event actions again and keeps, of those
this resource owns, the oldest (by CreatedAt, then Id), deleting the others: two runs that raced into a
second event action both keep the same one. A list that does not show a new event action yet can hide the
race from both; the next reconcile (the schedule's at the latest) removes the extra one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from . import event_actions
from .contract import Attribute
from .event_actions import EventAction, EventActionError, Owner
from .properties import ProductProperties
from .rules import EXPORTABLE_ASSET_TYPES

if TYPE_CHECKING:
    from mypy_boto3_dataexchange import DataExchangeClient
    from mypy_boto3_dataexchange.type_defs import DataSetEntryTypeDef, GetEventActionResponseTypeDef


logger = logging.getLogger(__name__)

# The most ListDataSets and ListEventActions return at once.
PAGE = 200
# The Service Quotas entries (service "AWS Data Exchange") a reconcile can run into.
QUOTAS = ("Event actions per account", "Auto export event actions per data set")


@dataclass
class Outcome:
    """What a reconcile did: the data sets exported when it ended, those it added (an event action made or
    adopted) and removed (their event action deleted)."""

    product_id: str
    data_set_ids: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Data set -> its event action when the reconcile ended; those it made or adopted are `added`.
    event_actions: dict[str, EventAction] = field(default_factory=dict)

    def data(self) -> dict[str, str]:
        """CloudFormation attributes, strings only."""
        return {
            Attribute.PRODUCT_ID: self.product_id,
            Attribute.DATA_SET_IDS: ",".join(self.data_set_ids),
            Attribute.EVENT_ACTION_COUNT: str(len(self.data_set_ids)),
        }


def exportable_data_sets(client: DataExchangeClient, product_id: str) -> list[DataSetEntryTypeDef]:
    """The account's entitled data sets of the product that auto-export can export, every page read."""
    pages = client.get_paginator("list_data_sets").paginate(Origin="ENTITLED", PaginationConfig={"PageSize": PAGE})
    found = []
    for page in pages:
        for data_set in page["DataSets"]:
            if data_set.get("OriginDetails", {}).get("ProductId") != product_id:
                continue
            if data_set.get("AssetType") not in EXPORTABLE_ASSET_TYPES:
                logger.info(
                    "Data set %s holds %s assets, which auto-export does not export",
                    data_set["Id"],
                    data_set.get("AssetType"),
                )
                continue
            found.append(data_set)
    return found


def account_event_actions(client: DataExchangeClient) -> list[GetEventActionResponseTypeDef]:
    """Every event action of the account, read in full (list entries carry no tags)."""
    pages = client.get_paginator("list_event_actions").paginate(PaginationConfig={"PageSize": PAGE})
    entries = [entry for page in pages for entry in page["EventActions"]]
    read = (event_actions.get_event_action(client, entry["Id"]) for entry in entries)
    return [item for item in read if item is not None]


def owned_event_actions(client: DataExchangeClient, owner: Owner) -> list[GetEventActionResponseTypeDef]:
    """Every event action of the account that `owner` owns."""
    return [item for item in account_event_actions(client) if owner.owns(item.get("Tags", {}))]


def _data_set_of(item: GetEventActionResponseTypeDef) -> str:
    return item["Event"]["RevisionPublished"]["DataSetId"]


def reconcile(client: DataExchangeClient, properties: ProductProperties, owner: Owner) -> Outcome:
    """Makes the owned event actions match the product's exportable entitled data sets: one each, exporting
    to the destination; the owned event actions of data sets no longer in it are deleted, and event actions
    this resource does not own are never touched (but adopted, with `adopt_existing`)."""
    outcome = Outcome(properties.product_id)
    wanted = [data_set["Id"] for data_set in exportable_data_sets(client, properties.product_id)]
    # Every event action of the account by data set; the owner's apart. One read serves every data set.
    present: dict[str, list[GetEventActionResponseTypeDef]] = {}
    owned: dict[str, list[GetEventActionResponseTypeDef]] = {}
    for item in account_event_actions(client):
        present.setdefault(_data_set_of(item), []).append(item)
        if owner.owns(item.get("Tags", {})):
            owned.setdefault(_data_set_of(item), []).append(item)
    for data_set_id in sorted(set(owned) - set(wanted)):
        for item in owned.pop(data_set_id):
            event_actions.delete_event_action(client, item["Id"])
        outcome.removed.append(data_set_id)
        logger.info(
            "Data set %s is no longer in %s for this account: its event action is deleted",
            data_set_id,
            properties.product_id,
        )
    for data_set_id in wanted:
        data_set_properties = properties.for_data_set(data_set_id)
        mine = event_actions.oldest_first(owned.get(data_set_id, []))
        if mine:
            kept = event_actions.reconcile_event_action(client, mine[0], data_set_properties, owner)
            for extra in mine[1:]:
                event_actions.delete_event_action(client, extra["Id"])
        else:
            try:
                kept = event_actions.create_event_action(
                    client, data_set_properties, owner, present.get(data_set_id, [])
                )
            except EventActionError as error:
                raise EventActionError(_quota_reason(error, properties, data_set_id, len(wanted))) from error
            outcome.added.append(data_set_id)
        outcome.event_actions[data_set_id] = kept
        outcome.data_set_ids.append(data_set_id)
    return outcome


def _quota_reason(error: EventActionError, properties: ProductProperties, data_set_id: str, needed: int) -> str:
    """The service's refusal, with what the product needs and where to raise the quota, first."""
    # A refusal the handler made itself (an identical event action of nobody's) has no service error behind it.
    cause = error.__cause__
    quota = event_actions.exceeded_quota(cause) if isinstance(cause, ClientError) else None
    if quota is None:
        return str(error)
    return event_actions.shorten(
        f"Product {properties.product_id} needs {needed} event actions; data set {data_set_id} could not get one: "
        f"{quota} reached. Raise it in Service Quotas (AWS Data Exchange) or delete unused ones."
    )


def delete_owned(client: DataExchangeClient, owner: Owner) -> list[str]:
    """Deletes every event action the owner has; returns their data sets."""
    deleted = []
    for item in owned_event_actions(client, owner):
        event_actions.delete_event_action(client, item["Id"])
        deleted.append(_data_set_of(item))
    return sorted(deleted)
