"""crhelper glue: turns CloudFormation requests into calls of `event_actions` and reports the result, and
starts the backfill worker (asynchronously: the stack never waits for it) when existing revisions are asked for.

The Lambda function's handler is `dataexchange_auto_export_handler.index.handler`.
"""

from __future__ import annotations

import json
import logging
import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from crhelper import CfnResource

from . import backfill, event_actions
from .api_model import prefer_bundled_model
from .properties import ALL_REVISIONS, EventActionProperties, PropertyError

if TYPE_CHECKING:
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
    properties: EventActionProperties, event_action_arn: str, old: EventActionProperties | None
) -> None:
    """Starts exporting existing revisions, if asked for and not asked for before. Whatever happens, the
    stack goes on: the worker reports its outcome itself, as an EventBridge event."""
    if not properties.widens_backfill_of(old):
        return
    scope = properties.existing_revisions
    cursor = backfill.Cursor(
        properties.data_set_id, event_action_arn, latest=None if scope == ALL_REVISIONS else int(str(scope))
    )
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


@helper.create
def create(event: dict[str, Any], _context: Any) -> str:
    properties = EventActionProperties.from_resource_properties(event["ResourceProperties"])
    event_action = event_actions.create_event_action(client, properties, _owner(event))
    helper.Data.update(event_action.data())
    _start_backfill(properties, event_action.arn, None)
    return event_action.id


@helper.update
def update(event: dict[str, Any], _context: Any) -> str:
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
    event_actions.delete_event_action(client, event["PhysicalResourceId"])


def handler(event: dict[str, Any], context: Any) -> None:
    logger.info(
        "%s %s (%s) physical id %s",
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("ResourceType"),
        event.get("PhysicalResourceId", "-"),
    )
    helper(event, context)
