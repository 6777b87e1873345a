"""The custom resource handler's entry point, `dataexchange_auto_export_handler.index.handler`: crhelper turns
CloudFormation's request into a call of the resource type's module and reports its answer; a product's
reconcile after the deploy and the drift check (requests of the construct's rules, not CloudFormation's) go to
their module directly. Nothing else happens here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from crhelper import CfnResource

from . import drift, event_action_resource, product_resource
from .api_model import prefer_bundled_model
from .clients import Clients
from .contract import EVENT_ACTION_RESOURCE_TYPE, PRODUCT_RESOURCE_TYPE, DriftCheckRequest, ReconcileRequest
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
# Requests of the construct's rules (and the handler's own continuations), not CloudFormation's: the key that names
# each, and what serves it (the clients, the request, and when the invocation ends).
REQUESTS: Mapping[str, Callable[[Clients, Mapping[str, Any], float], None]] = {
    ReconcileRequest.KEY: product_resource.reconcile_after_deploy,
    DriftCheckRequest.KEY: drift.check_after_deploy,
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


def _deadline(context: Any) -> float:
    """When the invocation ends (Lambda's timeout), on time.monotonic()'s clock."""
    return time.monotonic() + float(context.get_remaining_time_in_millis()) / 1000


def _answered(answer: Answer) -> str:
    helper.Data.update(answer.data)
    return answer.physical_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    return _answered(_resource(event).create(clients, Request.of(event, _deadline(context))))


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    return _answered(_resource(event).update(clients, Request.of(event, _deadline(context))))


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    _resource(event).delete(clients, Request.of(event, _deadline(context)))


def handler(event: dict[str, Any], context: Any) -> None:
    for key, serve in REQUESTS.items():
        if key in event:
            serve(clients, event[key], _deadline(context))
            return
    logger.info(
        "%s %s (%s) physical id %s",
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("ResourceType"),
        event.get("PhysicalResourceId", "-"),
    )
    helper(event, context)
