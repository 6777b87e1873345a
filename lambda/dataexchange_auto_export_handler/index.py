"""crhelper glue: turns CloudFormation requests into calls of `event_actions` (a data set's resource) or
`products` (a product's) and reports the result, and starts the backfill worker (asynchronously: the stack
never waits for it) when existing revisions are asked for. A product's reconcile after the deploy (a request
of the construct's rules, not CloudFormation's) reports on the default event bus instead.

The Lambda function's handler is `dataexchange_auto_export_handler.index.handler`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from crhelper import CfnResource

from . import backfill, event_actions, products
from .api_model import prefer_bundled_model
from .event_actions import EventActionError
from .product_properties import (
    PRODUCT_DATA_SETS_ADDED,
    PRODUCT_RECONCILE_FAILED,
    PRODUCT_RECONCILED,
    RECONCILE_REQUEST,
    ProductProperties,
    check_product_id,
)
from .product_properties import RESOURCE_TYPE as PRODUCT_RESOURCE_TYPE
from .properties import ALL_REVISIONS, BACKFILL_SOURCE, EventActionProperties, PropertyError

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient

logger = logging.getLogger(__name__)

# First: crhelper's and our clients must both come from a session that reads the bundled model.
prefer_bundled_model()

# INFO, not crhelper's DEBUG default: only crhelper's DEBUG lines carry the event and the pre-signed URL
# CloudFormation is answered at, which is a credential. log_level sets only the root logger, which anything
# else in the process may change, so crhelper's own loggers are held at INFO too, whatever the root level.
# sleep_on_delete only helps crhelper's polling mode, which this handler does not use.
helper = CfnResource(json_logging=False, log_level="INFO", boto_level="CRITICAL", sleep_on_delete=0)
logging.getLogger("crhelper").setLevel(logging.INFO)

client = boto3.client("dataexchange", config=event_actions.RETRY_CONFIG)


def _owner(event: dict[str, Any]) -> event_actions.Owner:
    return event_actions.Owner(stack_id=event["StackId"], logical_id=event["LogicalResourceId"])


@cache
def _lambda() -> LambdaClient:
    # Made on first use: most requests start no backfill, and a client costs cold-start time.
    return boto3.client("lambda", config=event_actions.RETRY_CONFIG)


def _start_backfill(
    properties: EventActionProperties,
    event_action_arn: str,
    old: EventActionProperties | None,
    product_id: str | None = None,
) -> None:
    """Starts exporting existing revisions, if asked for and not asked for before. Whatever happens, the
    stack goes on: the worker reports its outcome itself, as an EventBridge event."""
    if not properties.widens_backfill_of(old):
        return
    scope = properties.existing_revisions
    latest = None if scope == ALL_REVISIONS else int(str(scope))
    cursor = backfill.Cursor(properties.data_set_id, event_action_arn, latest=latest, product_id=product_id)
    try:
        _lambda().invoke(
            FunctionName=os.environ["BACKFILL_FUNCTION"],
            InvocationType="Event",
            Payload=json.dumps(cursor.to_payload()).encode(),
        )
    except (ClientError, BotoCoreError, KeyError) as error:
        logger.error("Existing revisions of %s will not be exported: %s", properties.data_set_id, error)
        return
    logger.info("Exporting the existing revisions of %s (%s) in the background", properties.data_set_id, scope)


@cache
def _events() -> EventBridgeClient:
    # Made on first use: only a product's reconcile after the deploy reports on the bus.
    return boto3.client("events", config=event_actions.RETRY_CONFIG)


# --- a product's resource (Custom::DataExchangeProductAutoExport) and its reconciles after the deploy ----


def _product_owner(event: Mapping[str, Any], product_id: str) -> event_actions.Owner:
    return event_actions.Owner(event["StackId"], event["LogicalResourceId"], product_id)


def _old_product(event: Mapping[str, Any]) -> ProductProperties | None:
    try:
        return ProductProperties.from_resource_properties(event.get("OldResourceProperties", {}))
    except PropertyError:
        return None


def _reconcile_product(
    event: Mapping[str, Any], properties: ProductProperties, old: ProductProperties | None
) -> products.Outcome:
    """Reconciles the product, then starts the backfill of each event action that asks for more existing
    revisions than before (`old`: the properties before; None: every one is new)."""
    outcome = products.reconcile(client, properties, _product_owner(event, properties.product_id))
    same_product = old if old is not None and old.product_id == properties.product_id else None
    for data_set_id, event_action in outcome.event_actions.items():
        new = same_product is None or data_set_id in outcome.added
        before = None if new or same_product is None else same_product.for_data_set(data_set_id)
        _start_backfill(properties.for_data_set(data_set_id), event_action.arn, before, properties.product_id)
    return outcome


def _product_request(event: Mapping[str, Any], old: ProductProperties | None) -> str:
    """A Create or Update: the product's id is the physical id, so another product is a replacement, after
    which CloudFormation deletes what the old one owns."""
    properties = ProductProperties.from_resource_properties(event["ResourceProperties"])
    outcome = _reconcile_product(event, properties, old)
    helper.Data.update(outcome.data())
    return outcome.product_id


def _reconcile_after_deploy(request: Mapping[str, Any]) -> None:
    """A reconcile that a rule of the construct starts (Data Exchange's event or the schedule): its outcome
    goes to the default event bus, as nobody waits for an answer."""
    product_id = str(request.get("ResourceProperties", {}).get("ProductId"))
    detail: dict[str, Any]
    try:
        properties = ProductProperties.from_resource_properties(request["ResourceProperties"])
        # The properties are the deployed ones: only a data set new to the product is new to the backfill.
        outcome = _reconcile_product(request, properties, properties)
    except (EventActionError, PropertyError, ClientError, BotoCoreError) as error:
        logger.error("Reconcile of product %s failed: %s", product_id, error)
        detail_type, detail = (
            PRODUCT_RECONCILE_FAILED,
            {"ProductId": product_id, "DataSetIds": [], "Reason": str(error)},
        )
    else:
        detail_type = PRODUCT_DATA_SETS_ADDED if outcome.added else PRODUCT_RECONCILED
        detail = {
            "ProductId": product_id,
            "DataSetIds": outcome.added if outcome.added else outcome.data_set_ids,
            "Added": outcome.added,
            "Removed": outcome.removed,
            "EventActionCount": len(outcome.data_set_ids),
        }
        logger.info("%s %s: %s", detail_type, product_id, detail)
    _events().put_events(
        Entries=[
            {
                "Source": BACKFILL_SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "Resources": [product_id],
            }
        ]
    )


# --- the crhelper glue -----------------------------------------------------------------------


@helper.create
def create(event: dict[str, Any], _context: Any) -> str:
    if event["ResourceType"] == PRODUCT_RESOURCE_TYPE:
        return _product_request(event, None)
    properties = EventActionProperties.from_resource_properties(event["ResourceProperties"])
    event_action = event_actions.create_event_action(client, properties, _owner(event))
    helper.Data.update(event_action.data())
    _start_backfill(properties, event_action.arn, None)
    return event_action.id


@helper.update
def update(event: dict[str, Any], _context: Any) -> str:
    if event["ResourceType"] == PRODUCT_RESOURCE_TYPE:
        return _product_request(event, _old_product(event))
    properties = EventActionProperties.from_resource_properties(event["ResourceProperties"])
    try:
        old: EventActionProperties | None = EventActionProperties.from_resource_properties(
            event.get("OldResourceProperties", {})
        )
    except PropertyError:
        old = None
    event_action = event_actions.update_event_action(
        client, event["PhysicalResourceId"], properties, old.data_set_id if old else None, _owner(event)
    )
    helper.Data.update(event_action.data())
    _start_backfill(properties, event_action.arn, old)
    return event_action.id


@helper.delete
def delete(event: dict[str, Any], _context: Any) -> None:
    physical_id = event["PhysicalResourceId"]
    if event["ResourceType"] != PRODUCT_RESOURCE_TYPE:
        event_actions.delete_owned_event_action(client, physical_id, _owner(event))
        return
    try:
        check_product_id(physical_id, "PhysicalResourceId")
        product_id = physical_id
    except PropertyError:
        # crhelper reports an invented id for a Create that failed, after which CloudFormation deletes it:
        # what that Create made before failing is the properties' product's.
        product_id = str(event.get("ResourceProperties", {}).get("ProductId"))
        logger.info("Physical id %r is not a product id: deleting what product %s owns", physical_id, product_id)
    deleted = products.delete_owned(client, _product_owner(event, product_id))
    logger.info("Deleted the event actions of product %s on data sets %s", product_id, ", ".join(deleted) or "-")


def handler(event: dict[str, Any], context: Any) -> None:
    if RECONCILE_REQUEST in event:
        _reconcile_after_deploy(event[RECONCILE_REQUEST])
        return
    logger.info(
        "%s %s (%s) physical id %s",
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("ResourceType"),
        event.get("PhysicalResourceId", "-"),
    )
    helper(event, context)
