"""The custom resource handler's entry point, `dataexchange_auto_export_handler.index.handler`: crhelper turns
CloudFormation's request into a call of the resource type's module and reports its answer; a product's
reconcile after the deploy (a request of the construct's rules, not CloudFormation's) goes to its module
directly. Nothing else happens here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from crhelper import CfnResource

from . import event_action_resource, product_resource
from .api_model import prefer_bundled_model
from .clients import Clients
from .contract import EVENT_ACTION_RESOURCE_TYPE, PRODUCT_RESOURCE_TYPE, ReconcileRequest
from .request import Answer, Request

logger = logging.getLogger(__name__)


class Resource(Protocol):
    def create(self, clients: Clients, request: Request) -> Answer: ...

    def update(self, clients: Clients, request: Request) -> Answer: ...

    def delete(self, clients: Clients, request: Request) -> None: ...


RESOURCES: Mapping[str, Resource] = {
    EVENT_ACTION_RESOURCE_TYPE: event_action_resource,
    PRODUCT_RESOURCE_TYPE: product_resource,
}

# First: crhelper's clients and ours must both come from a session that reads the bundled model.
prefer_bundled_model()

# INFO, not crhelper's DEBUG default: only crhelper's DEBUG lines carry the event and the pre-signed URL
# CloudFormation is answered at, which is a credential. log_level sets only the root logger, which anything
# else in the process may change, so crhelper's own loggers are held at INFO too, whatever the root level.
# sleep_on_delete only helps crhelper's polling mode, which this handler does not use.
helper = CfnResource(json_logging=False, log_level="INFO", boto_level="CRITICAL", sleep_on_delete=0)
logging.getLogger("crhelper").setLevel(logging.INFO)
clients = Clients()


def _resource(event: Mapping[str, Any]) -> Resource:
    resource_type = event["ResourceType"]
    if resource_type not in RESOURCES:
        raise ValueError(f"This handler serves {' and '.join(RESOURCES)}, not {resource_type}")
    return RESOURCES[resource_type]


def _answered(answer: Answer) -> str:
    helper.Data.update(answer.data)
    return answer.physical_id


@helper.create
def create(event: dict[str, Any], _context: Any) -> str:
    return _answered(_resource(event).create(clients, Request.of(event)))


@helper.update
def update(event: dict[str, Any], _context: Any) -> str:
    return _answered(_resource(event).update(clients, Request.of(event)))


@helper.delete
def delete(event: dict[str, Any], _context: Any) -> None:
    _resource(event).delete(clients, Request.of(event))


def handler(event: dict[str, Any], context: Any) -> None:
    if ReconcileRequest.KEY in event:
        product_resource.reconcile_after_deploy(clients, event[ReconcileRequest.KEY])
        return
    logger.info(
        "%s %s (%s) physical id %s",
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("ResourceType"),
        event.get("PhysicalResourceId", "-"),
    )
    helper(event, context)
