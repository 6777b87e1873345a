"""crhelper glue: turns CloudFormation requests into calls of `event_actions` and reports the result.

The Lambda function's handler is `dataexchange_auto_export_handler.index.handler`.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from crhelper import CfnResource

from . import event_actions
from .api_model import prefer_bundled_model
from .properties import EventActionProperties

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


@helper.create
def create(event: dict[str, Any], _context: Any) -> str:
    properties = EventActionProperties.from_resource_properties(event["ResourceProperties"])
    event_action = event_actions.create_event_action(client, properties, _owner(event))
    helper.Data.update(event_action.data())
    return event_action.id


@helper.update
def update(event: dict[str, Any], _context: Any) -> str:
    properties = EventActionProperties.from_resource_properties(event["ResourceProperties"])
    event_action = event_actions.update_event_action(
        client,
        event["PhysicalResourceId"],
        properties,
        event.get("OldResourceProperties", {}).get("DataSetId"),
        _owner(event),
    )
    helper.Data.update(event_action.data())
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
