"""`Custom::DataExchangeProductAutoExport`: a product's event actions, one per exportable data set, reconciled on
every deploy and, after it, when the construct's rules ask (Data Exchange's event, the schedule); the backfill
of each event action that asks for more existing revisions than before."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import backfill, products, stack
from .clients import Clients
from .contract import Detail, DetailType, ReconcileRequest
from .event_actions import EventActionError, Owner
from .event_bus import put_event
from .properties import ProductProperties
from .request import Answer, Request
from .rules import PropertyError, check_product_id

logger = logging.getLogger(__name__)


def _owner(stack_id: str, logical_id: str, product_id: str) -> Owner:
    return Owner(stack_id, logical_id, product_id)


def _reconcile(
    clients: Clients, owner: Owner, properties: ProductProperties, old: ProductProperties | None
) -> products.Outcome:
    """Reconciles the product, then starts the backfill of each event action that asks for more existing
    revisions than before (`old`: the properties before; None: every one is new)."""
    outcome = products.reconcile(clients.dataexchange, properties, owner)
    same_product = old if old is not None and old.product_id == properties.product_id else None
    for data_set_id, event_action in outcome.event_actions.items():
        new = same_product is None or data_set_id in outcome.added
        before = None if new or same_product is None else same_product.for_data_set(data_set_id)
        if properties.for_data_set(data_set_id).widens_backfill_of(before):
            cursor = backfill.Cursor(
                data_set_id,
                event_action.arn,
                latest=properties.export.latest_revisions,
                product_id=properties.product_id,
            )
            backfill.start(clients, cursor)
    return outcome


def _deploy(clients: Clients, request: Request, old: ProductProperties | None) -> Answer:
    """A Create or Update: the product's id is the physical id, so another product is a replacement, after
    which CloudFormation deletes what the old one owns."""
    properties = ProductProperties.from_properties(request.properties)
    owner = _owner(request.stack_id, request.logical_id, properties.product_id)
    outcome = _reconcile(clients, owner, properties, old)
    return Answer(outcome.product_id, outcome.data())


def create(clients: Clients, request: Request) -> Answer:
    return _deploy(clients, request, None)


def update(clients: Clients, request: Request) -> Answer:
    try:
        old: ProductProperties | None = ProductProperties.from_properties(request.old_properties or {})
    except PropertyError:
        old = None
    return _deploy(clients, request, old)


def delete(clients: Clients, request: Request) -> None:
    physical_id = str(request.physical_id)
    try:
        check_product_id(physical_id, "PhysicalResourceId")
        product_id = physical_id
    except PropertyError:
        # crhelper reports an invented id for a Create that failed, after which CloudFormation deletes it:
        # what that Create made before failing is the properties' product's.
        product_id = str(request.properties.get(ProductProperties.SUBJECT))
        logger.info("Physical id %r is not a product id: deleting what product %s owns", physical_id, product_id)
    deleted = products.delete_owned(clients.dataexchange, _owner(request.stack_id, request.logical_id, product_id))
    logger.info("Deleted the event actions of product %s on data sets %s", product_id, ", ".join(deleted) or "-")


def reconcile_after_deploy(clients: Clients, request: Mapping[str, Any]) -> None:
    """A reconcile that a rule of the construct starts (Data Exchange's event or the schedule): it reads what the
    stack deployed (the rule's input names only the resource, so it can neither drift from the stack nor outgrow
    EventBridge's limit), and its outcome goes to the default event bus, as nobody waits for an answer. One queued
    before the resource was deleted finds it gone and does nothing: it must not make again what the Delete removed."""
    stack_id, logical_id = request[ReconcileRequest.STACK_ID], request[ReconcileRequest.LOGICAL_ID]
    deployed = stack.deployed_resource(clients.cloudformation, stack_id, logical_id)
    if deployed is None or deployed.going:
        logger.info("%s of %s is gone: nothing to reconcile", logical_id, stack_id)
        return
    product_id = str(deployed.properties.get(ProductProperties.SUBJECT))
    detail: dict[str, Any]
    try:
        properties = ProductProperties.from_properties(deployed.properties)
        owner = _owner(stack_id, logical_id, product_id)
        # The properties are the deployed ones: only a data set new to the product is new to the backfill.
        outcome = _reconcile(clients, owner, properties, properties)
    except (EventActionError, PropertyError, ClientError, BotoCoreError) as error:
        logger.error("Reconcile of product %s failed: %s", product_id, error)
        detail_type = DetailType.PRODUCT_RECONCILE_FAILED
        detail = {Detail.PRODUCT_ID: product_id, Detail.DATA_SET_IDS: [], Detail.REASON: str(error)}
    else:
        detail_type = DetailType.PRODUCT_DATA_SETS_ADDED if outcome.added else DetailType.PRODUCT_RECONCILED
        detail = {
            Detail.PRODUCT_ID: product_id,
            Detail.DATA_SET_IDS: outcome.added if outcome.added else outcome.data_set_ids,
            "Added": outcome.added,
            "Removed": outcome.removed,
            Detail.EVENT_ACTION_COUNT: len(outcome.data_set_ids),
        }
        logger.info("%s %s: %s", detail_type, product_id, detail)
    put_event(clients.events, detail_type, detail, [product_id])
