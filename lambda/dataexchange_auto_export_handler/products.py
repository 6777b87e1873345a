"""Follow a subscribed product: one owned event action per exportable data set, made, adopted, updated or
deleted to match what the account is entitled to now. Plain functions over a boto3 client.

A reconcile may run on a deploy, on Data Exchange's event and on a schedule, all at once: nothing here holds
a lock. Each run makes what is missing, then reads the data set's event actions again and keeps, of those
this resource owns, the oldest (by CreatedAt, then Id), deleting the others: two runs that raced into a
second event action both keep the same one. A list that does not show a new event action yet can hide the
race from both; the next reconcile (the schedule's at the latest) removes the extra one.

A product may hold a thousand data sets: the calls are made `parallel.CONCURRENCY` at a time, and a reconcile
given a deadline makes no more event actions after it, leaving the rest `pending` for another run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from . import event_actions, parallel
from .contract import Attribute
from .event_actions import EventAction, EventActionError, Owner
from .export_settings import ExportSettings
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
# How much of CloudFormation's 4,096-byte response the DataSetIds attribute may take: the rest of the response (the
# stack id, the logical id, the product id, crhelper's reason naming its log stream, the other attributes) takes at
# most about 1,400 bytes. About 60 ids of 32 characters fit; DataSetCount says how many there are.
DATA_SET_IDS_BYTES = 2048


@dataclass
class Outcome:
    """What a reconcile did: the data sets exported when it ended, those it added (an event action made or
    adopted), those whose event action it brought back to the destination (`changed`: what it found), those it
    removed (their event action deleted), and those it left for another run (`pending`: no event action yet)."""

    product_id: str
    data_set_ids: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    # Data set -> its event action when the reconcile ended; those it made or adopted are `added`.
    event_actions: dict[str, EventAction] = field(default_factory=dict)

    def data(self) -> dict[str, str]:
        """CloudFormation attributes, strings only, within its response limit: EventActionCount counts the data sets
        exported now, DataSetCount those the product has for the account (the pending ones too), and DataSetIds
        lists the exported ones as far as they fit."""
        return {
            Attribute.PRODUCT_ID: self.product_id,
            Attribute.DATA_SET_IDS: ",".join(_fitting(self.data_set_ids, DATA_SET_IDS_BYTES)),
            Attribute.EVENT_ACTION_COUNT: str(len(self.data_set_ids)),
            Attribute.DATA_SET_COUNT: str(len(self.data_set_ids) + len(self.pending)),
        }


def _fitting(ids: list[str], limit: int) -> list[str]:
    """The first ids whose comma-separated list is at most `limit` bytes."""
    fitting: list[str] = []
    size = -1
    for data_set_id in ids:
        size += len(data_set_id) + 1
        if size > limit:
            break
        fitting.append(data_set_id)
    return fitting


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
    read = parallel.each(lambda entry: event_actions.get_event_action(client, entry["Id"]), entries)
    return [item for item in read if item is not None]


def owned_event_actions(client: DataExchangeClient, owner: Owner) -> list[GetEventActionResponseTypeDef]:
    """Every event action of the account that `owner` owns."""
    return [item for item in account_event_actions(client) if owner.owns(item.get("Tags", {}))]


def _data_set_of(item: GetEventActionResponseTypeDef) -> str:
    return item["Event"]["RevisionPublished"]["DataSetId"]


class _Creations:
    """Which data sets still get an event action made in this run: all before the deadline, none after it, but never
    fewer than a round of calls, so that a run whose reads took its time still gets on."""

    def __init__(self, deadline: float | None) -> None:
        self._deadline = deadline
        self._started = 0
        self._lock = threading.Lock()

    def start(self) -> bool:
        with self._lock:
            late = self._deadline is not None and time.monotonic() >= self._deadline
            if late and self._started >= parallel.CONCURRENCY:
                return False
            self._started += 1
            return True


def reconcile(
    client: DataExchangeClient, properties: ProductProperties, owner: Owner, deadline: float | None = None
) -> Outcome:
    """Makes the owned event actions match the product's exportable entitled data sets: one each, exporting
    to the destination; the owned event actions of data sets no longer in it are deleted, and event actions
    this resource does not own are never touched (but adopted, with `adopt_existing`). After `deadline` (on
    time.monotonic()'s clock) no more event actions are made: the data sets left are `pending`."""
    outcome = Outcome(properties.product_id)
    wanted = [data_set["Id"] for data_set in exportable_data_sets(client, properties.product_id)]
    # Every event action of the account by data set; the owner's apart. One read serves every data set.
    present: dict[str, list[GetEventActionResponseTypeDef]] = {}
    owned: dict[str, list[GetEventActionResponseTypeDef]] = {}
    for item in account_event_actions(client):
        present.setdefault(_data_set_of(item), []).append(item)
        if owner.owns(item.get("Tags", {})):
            owned.setdefault(_data_set_of(item), []).append(item)
    gone = sorted(set(owned) - set(wanted))
    _delete_each(client, [item for data_set_id in gone for item in owned[data_set_id]])
    for data_set_id in gone:
        outcome.removed.append(data_set_id)
        logger.info(
            "Data set %s is no longer in %s for this account: its event action is deleted",
            data_set_id,
            properties.product_id,
        )
    creations = _Creations(deadline)

    # Runs on parallel.each's threads: each data set's own entries of `outcome` (a list append, a dict item), which
    # the interpreter makes whole; the order is set once they all ended.
    def follow(data_set_id: str) -> EventAction | None:
        data_set_properties = properties.for_data_set(data_set_id)
        mine = event_actions.oldest_first(owned.get(data_set_id, []))
        if mine:
            kept, extras = mine[0], mine[1:]
            if not properties.export.exports_like(kept["Action"]):
                outcome.changed[data_set_id] = ExportSettings.of_action(kept["Action"]).describe()
            made = event_actions.reconcile_event_action(client, kept, data_set_properties, owner)
            for extra in extras:
                event_actions.delete_event_action(client, extra["Id"])
            return made
        if not creations.start():
            return None
        try:
            made = event_actions.create_event_action(client, data_set_properties, owner, present.get(data_set_id, []))
        except EventActionError as error:
            raise EventActionError(_quota_reason(error, properties, data_set_id, len(wanted))) from error
        outcome.added.append(data_set_id)
        return made

    for data_set_id, kept in zip(wanted, parallel.each(follow, wanted), strict=True):
        if kept is None:
            outcome.pending.append(data_set_id)
            continue
        outcome.event_actions[data_set_id] = kept
        outcome.data_set_ids.append(data_set_id)
    # In the product's order, whichever call ended first.
    outcome.added.sort(key=wanted.index)
    if outcome.pending:
        logger.info("%d data sets of %s are left for the next run", len(outcome.pending), properties.product_id)
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
    mine = owned_event_actions(client, owner)
    _delete_each(client, mine)
    return sorted(_data_set_of(item) for item in mine)


def _delete_each(client: DataExchangeClient, items: list[GetEventActionResponseTypeDef]) -> None:
    parallel.each(lambda item: event_actions.delete_event_action(client, item["Id"]), items)
