"""The drift check: whether the event actions of a stack are still what the stack deployed. CloudFormation's drift
detection does not cover custom resources, and CloudFormation sends a custom resource an Update only when its
properties change, so an event action deleted or changed outside the stack (the console, a script, a colleague)
stays so through every ordinary deploy.

Once a day (the provider's schedule) the handler reads its stack (ListStackResources, then DescribeStackResource
for what each resource it serves deployed: the construct's Metadata), each of those event actions (GetEventAction)
and the account's entitled data sets (ListDataSets), and reports each difference as an `Export Drift Detected`
event on the default bus, with the command that repairs it. It changes nothing. A product's event actions are its
reconcile's to check: it restores them and reports what it restored the same way (`Resource.restored`).

The repair of an AutoExportEventAction's event action is an Update: a deploy with the repair context
(contract.REPAIR_CONTEXT) gives the resource a new Repair property, so CloudFormation sends the Update, which
makes the event action again (a new physical id; CloudFormation then deletes the old one, already gone) or brings
its Action back. The Update keeps an event action on another data set than deployed (it compares the properties
before and after, not the event action): that one is deleted first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from . import event_actions, parallel, stack
from .contract import (
    EVENT_ACTION_RESOURCE_TYPE,
    REPAIR_CONTEXT,
    Detail,
    DetailType,
    DriftCheckRequest,
    DriftKind,
    Property,
)
from .event_actions import EventAction
from .event_bus import put_event
from .export_settings import ExportSettings
from .properties import EventActionProperties
from .rules import PropertyError

if TYPE_CHECKING:
    from mypy_boto3_dataexchange import DataExchangeClient
    from mypy_boto3_dataexchange.type_defs import GetEventActionResponseTypeDef

    from .clients import Clients

logger = logging.getLogger(__name__)

# What each kind of drift is, in a sentence.
WHAT = {
    DriftKind.DELETED: "its event action no longer exists",
    DriftKind.CHANGED: "its event action no longer exports as the stack deployed it",
    DriftKind.NOT_ENTITLED: "the account is no longer entitled to the data set",
}


@dataclass(frozen=True)
class Drift:
    """One difference between what a resource of the stack deployed and what is there."""

    kind: str
    stack_id: str
    logical_id: str
    path: str
    data_set_id: str
    expected: str
    found: str
    repair: str
    event_action_id: str | None = None
    product_id: str | None = None
    restored: bool = False

    @property
    def stack_name(self) -> str:
        return stack_name(self.stack_id)

    def reason(self) -> str:
        """The report in a sentence: which resource, what happened, expected and found, and what to do."""
        return (
            f"{self.path} ({self.logical_id}) of stack {self.stack_name}: {WHAT[self.kind]}. Expected {self.expected}; "
            f"found {self.found}. {'Restored: ' if self.restored else 'Repair: '}{self.repair}"
        )

    def detail(self) -> dict[str, Any]:
        """The event's detail: the fields the construct's rules and message read (DataSetIds, Reason) and the
        report's own."""
        detail: dict[str, Any] = {
            Detail.DRIFT: self.kind,
            Detail.STACK_ID: self.stack_id,
            Detail.LOGICAL_ID: self.logical_id,
            Detail.PATH: self.path,
            Detail.DATA_SET_ID: self.data_set_id,
            Detail.DATA_SET_IDS: [self.data_set_id],
            Detail.EVENT_ACTION_ID: self.event_action_id,
            Detail.EXPECTED: self.expected,
            Detail.FOUND: self.found,
            Detail.REPAIR: self.repair,
            Detail.RESTORED: self.restored,
            Detail.REASON: self.reason(),
        }
        if self.product_id is not None:
            detail[Detail.PRODUCT_ID] = self.product_id
        return detail


@dataclass(frozen=True)
class Resource:
    """A resource of the stack, as its drift reports name it: the stack, its logical id and the construct's path,
    and the product, for an AutoExportProduct's."""

    stack_id: str
    logical_id: str
    path: str
    product_id: str | None = None

    def expected(self, properties: EventActionProperties) -> str:
        owner = f" by an event action of product {self.product_id}" if self.product_id else ""
        return f"data set {properties.data_set_id} exported{owner} to {properties.export.describe()}"

    def found(
        self, kind: str, properties: EventActionProperties, found: str, event_action_id: str | None, repair: str
    ) -> Drift:
        """A drift the check found, with the command that repairs it."""
        return Drift(
            kind,
            self.stack_id,
            self.logical_id,
            self.path,
            properties.data_set_id,
            self.expected(properties),
            found,
            repair,
            event_action_id,
            self.product_id,
        )

    def restored(
        self, kind: str, properties: EventActionProperties, found: str, event_action: EventAction | None
    ) -> Drift:
        """A drift a product's reconcile found and restored (`event_action`: the one exporting the data set now)."""
        done = (
            f"event action {event_action.id} exports it again; nothing to run."
            if event_action is not None
            else f"its event action was deleted. To export it again, subscribe again to {self.product_id}: the next "
            "reconcile makes it."
        )
        drift = self.found(kind, properties, found, event_action.id if event_action else None, done)
        return replace(drift, restored=True)


def stack_name(stack_id: str) -> str:
    """The name in a stack id (arn:...:stack/NAME/UUID)."""
    return stack_id.split(":stack/", 1)[-1].split("/", 1)[0]


def repair_command(stack_id: str, logical_id: str, nonce: str) -> str:
    """The deploy that sends the resource an Update (see the module's description)."""
    return f"cdk deploy {stack_name(stack_id)} -c {REPAIR_CONTEXT}={logical_id}@{nonce}"


def entitled_data_sets(client: DataExchangeClient) -> set[str]:
    """The data sets the account is entitled to, every page read."""
    pages = client.get_paginator("list_data_sets").paginate(Origin="ENTITLED", PaginationConfig={"PageSize": 200})
    return {data_set["Id"] for page in pages for data_set in page["DataSets"]}


def compare(
    resource: Resource,
    properties: EventActionProperties,
    event_action_id: str,
    found: GetEventActionResponseTypeDef | None,
    entitled: set[str],
    nonce: str,
) -> list[Drift]:
    """The drifts of one AutoExportEventAction's event action (`found`; None: gone) from its properties."""
    repair = repair_command(resource.stack_id, resource.logical_id, nonce)
    drifts = []
    if found is None:
        drifts.append(resource.found(DriftKind.DELETED, properties, "none", event_action_id, repair))
    else:
        data_set_id = found["Event"]["RevisionPublished"]["DataSetId"]
        if data_set_id != properties.data_set_id or not properties.export.exports_like(found["Action"]):
            if data_set_id != properties.data_set_id:
                repair = f"aws dataexchange delete-event-action --event-action-id {event_action_id} && {repair}"
            exported = ExportSettings.of_action(found["Action"]).describe()
            found_text = f"data set {data_set_id} exported to {exported} by event action {event_action_id}"
            drifts.append(resource.found(DriftKind.CHANGED, properties, found_text, event_action_id, repair))
    if properties.data_set_id not in entitled:
        resubscribe = (
            f"subscribe again to the product of data set {properties.data_set_id}; or remove the construct "
            f"and run cdk deploy {stack_name(resource.stack_id)}, which deletes its event action"
        )
        not_listed = "it is not among the account's entitled data sets"
        drifts.append(resource.found(DriftKind.NOT_ENTITLED, properties, not_listed, event_action_id, resubscribe))
    return drifts


def check(clients: Clients, stack_id: str, service_token: str) -> list[Drift]:
    """The drifts of the AutoExportEventActions of the stack that the function `service_token` serves."""
    cloudformation, dataexchange = clients.cloudformation, clients.dataexchange
    logical_ids = stack.settled_resources(cloudformation, stack_id, EVENT_ACTION_RESOURCE_TYPE)
    described = parallel.each(partial(stack.deployed_resource, cloudformation, stack_id), logical_ids)
    served = [
        deployed
        for deployed in described
        if deployed is not None and deployed.properties.get(Property.SERVICE_TOKEN) == service_token
    ]
    entitled = entitled_data_sets(dataexchange)
    found = parallel.each(lambda deployed: event_actions.get_event_action(dataexchange, deployed.physical_id), served)
    nonce = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    drifts: list[Drift] = []
    for deployed, item in zip(served, found, strict=True):
        try:
            properties = EventActionProperties.from_properties(deployed.properties)
        except PropertyError as error:
            logger.warning("%s: what the stack deployed cannot be read (%s): not checked", deployed.logical_id, error)
            continue
        resource = Resource(stack_id, deployed.logical_id, deployed.path)
        drifts += compare(resource, properties, deployed.physical_id, item, entitled, nonce)
    logger.info(
        "Checked %d event actions of %s (%d resources of the stack are another function's): %d drifted",
        len(served),
        stack_name(stack_id),
        len(described) - len(served),
        len(drifts),
    )
    return drifts


def check_after_deploy(clients: Clients, request: Mapping[str, Any], _deadline: float | None = None) -> None:
    """The schedule's drift check: each drift found goes to the default bus, naming the stack in `resources`."""
    stack_id = request[DriftCheckRequest.STACK_ID]
    for drift in check(clients, stack_id, request[DriftCheckRequest.SERVICE_TOKEN]):
        logger.warning("%s", drift.reason())
        put_event(clients.events, DetailType.DRIFT_DETECTED, drift.detail(), [stack_id])
