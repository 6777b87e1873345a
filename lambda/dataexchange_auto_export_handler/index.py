"""The custom resource handler's entry point, `dataexchange_auto_export_handler.index.handler`: crhelper turns
CloudFormation's request into a call of the resource type's module and reports its answer; a product's
reconcile after the deploy and the drift check (requests of the construct's rules, not CloudFormation's) go to
their module directly.

Around each of CloudFormation's requests, what AWS does around the handler: a request CloudFormation no longer
waits for is answered FAILED without acting (`stack.check_awaited`); a Create CloudFormation cancelled while it
ran (another resource failed) undoes what it made; AccessDenied is retried while the deploy's own policy change
may not be visible yet (`propagation`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from crhelper import CfnResource

from . import drift, event_action_resource, product_resource, stack
from .api_model import prefer_bundled_model
from .clients import Clients
from .contract import EVENT_ACTION_RESOURCE_TYPE, PRODUCT_RESOURCE_TYPE, DriftCheckRequest, ReconcileRequest
from .propagation import PropagationRetry
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
propagation = PropagationRetry()
clients = Clients(made=propagation.register)


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


def _awaited(request: Request, then: str = "Nothing done") -> None:
    """Raises StaleRequestError, saying `then` first (crhelper answers FAILED with it), unless CloudFormation waits
    for this request."""
    deployed = stack.deployed_resource(clients.cloudformation, request.stack_id, request.logical_id)
    try:
        stack.check_awaited(deployed, request.request_type, request.logical_id, request.physical_id)
    except stack.StaleRequestError as stale:
        raise stack.StaleRequestError(f"{then}: {stale}") from None


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    request, resource = Request.of(event, _deadline(context)), _resource(event)
    _awaited(request)
    try:
        answer = resource.create(clients, request)
    except Exception:
        _undo_if_cancelled(resource, request, None)
        raise
    _undo_if_cancelled(resource, request, answer.physical_id)
    return _answered(answer)


def _undo_if_cancelled(resource: Resource, request: Request, physical_id: str | None) -> None:
    """CloudFormation cancels a Create that still runs when another resource fails, and sends a Delete of an id of
    its own at once (aws-cdk issue 26139): that Delete removes what the Create made until then, and this, read once
    the Create is done, what it made after. Raises StaleRequestError once it has undone it."""
    try:
        _awaited(request, "Cancelled while it ran: what it made is deleted")
    except stack.StaleRequestError:
        resource.delete(clients, replace(request, request_type="Delete", physical_id=physical_id))
        raise


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    request = Request.of(event, _deadline(context))
    _awaited(request)
    return _answered(_resource(event).update(clients, request))


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    request = Request.of(event, _deadline(context))
    _awaited(request)
    _resource(event).delete(clients, request)


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
    with propagation.window(context.get_remaining_time_in_millis() / 1000):
        helper(event, context)
