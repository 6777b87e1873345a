"""`Custom::DataExchangeProductAutoExport`: a product's event actions, one per exportable data set, reconciled on
every deploy and, after it, when the construct's rules ask (Data Exchange's event, the schedule); the backfill
of each event action that asks for more existing revisions than before.

A product of many data sets may not fit one invocation: a Create or Update makes event actions until a third of
its time is gone, answers, and has the function invoked again at once to go on (a continuation, which may take
two thirds of its own), as often as it takes. A reconcile after the deploy reports what it had to restore
(`drift.Drift`) besides its outcome."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import backfill, drift, products, stack
from .backfill_chain import Cursor
from .clients import Clients
from .contract import Detail, DetailType, DriftKind, ReconcileRequest
from .event_actions import EventActionError, Owner
from .event_bus import put_event
from .properties import ProductProperties
from .request import Answer, Request
from .rules import PropertyError, check_product_id

logger = logging.getLogger(__name__)

# The share of an invocation's time spent making event actions: the rest is for the calls under way (a throttled
# call may wait 31 s in botocore's retries) and the answer. CloudFormation waits for a deploy's answer; nobody
# waits for a reconcile after the deploy, which only has to end before the function's timeout.
DEPLOY_SHARE = 1 / 3
AFTER_DEPLOY_SHARE = 2 / 3
# What the continuation request carries besides the contract's fields: the properties it continues with, those of
# the Create or Update that began (the stack's Metadata may still hold the ones before during an Update).
PROPERTIES = "ResourceProperties"


def _owner(stack_id: str, logical_id: str, product_id: str) -> Owner:
    return Owner(stack_id, logical_id, product_id)


def _work_deadline(deadline: float | None, share: float) -> float | None:
    if deadline is None:
        return None
    now = time.monotonic()
    return now + (deadline - now) * share


def _reconcile(
    clients: Clients,
    owner: Owner,
    properties: ProductProperties,
    old: ProductProperties | None,
    deadline: float | None,
) -> products.Outcome:
    """Reconciles the product, then starts the backfill of each event action that asks for more existing
    revisions than before (`old`: the properties before; None: every one is new), and has the function go on
    with what is left once the work `deadline` passed."""
    outcome = products.reconcile(clients.dataexchange, properties, owner, deadline)
    same_product = old if old is not None and old.product_id == properties.product_id else None
    for data_set_id, event_action in outcome.event_actions.items():
        new = same_product is None or data_set_id in outcome.added
        before = None if new or same_product is None else same_product.for_data_set(data_set_id)
        if properties.for_data_set(data_set_id).widens_backfill_of(before):
            cursor = Cursor(
                data_set_id,
                event_action.arn,
                latest=properties.export.latest_revisions,
                product_id=properties.product_id,
            )
            backfill.start(clients, cursor)
    if outcome.pending:
        _continue(clients, owner, properties)
    return outcome


def _continue(clients: Clients, owner: Owner, properties: ProductProperties) -> None:
    """Invokes this function again, asynchronously, to reconcile what is left: right away, not at the next schedule."""
    request = {
        ReconcileRequest.KEY: {
            ReconcileRequest.STACK_ID: owner.stack_id,
            ReconcileRequest.LOGICAL_ID: owner.logical_id,
            ReconcileRequest.TRIGGER: ReconcileRequest.CONTINUATION,
            PROPERTIES: properties.to_properties(),
        }
    }
    # Lambda sets the function's name in its environment.
    function = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    clients.lambda_.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(request).encode())
    logger.info("Product %s: the rest continues in another invocation of %s", properties.product_id, function)


def _deploy(clients: Clients, request: Request, old: ProductProperties | None) -> Answer:
    """A Create or Update: the product's id is the physical id, so another product is a replacement, after
    which CloudFormation deletes what the old one owns."""
    properties = ProductProperties.from_properties(request.properties)
    owner = _owner(request.stack_id, request.logical_id, properties.product_id)
    outcome = _reconcile(clients, owner, properties, old, _work_deadline(request.deadline, DEPLOY_SHARE))
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


def reconcile_after_deploy(clients: Clients, request: Mapping[str, Any], deadline: float | None = None) -> None:
    """A reconcile that a rule of the construct starts (Data Exchange's event or the schedule), or a continuation: it
    reads what the stack deployed (the rule's input names only the resource, so it can neither drift from the stack
    nor outgrow EventBridge's limit), and its outcome goes to the default event bus, as nobody waits for an answer.
    One queued before the resource was deleted (or replaced by another product's) finds it gone and does nothing: it
    must not make again what the Delete removed."""
    stack_id, logical_id = request[ReconcileRequest.STACK_ID], request[ReconcileRequest.LOGICAL_ID]
    trigger = request.get(ReconcileRequest.TRIGGER, ReconcileRequest.SCHEDULE)
    deployed = stack.deployed_resource(clients.cloudformation, stack_id, logical_id)
    given = request.get(PROPERTIES) or (deployed.properties if deployed else {})
    product_id = str(given.get(ProductProperties.SUBJECT))
    if deployed is None or deployed.going or deployed.physical_id not in ("", product_id):
        logger.info("%s of %s is gone: nothing to reconcile", logical_id, stack_id)
        return
    detail: dict[str, Any]
    try:
        properties = ProductProperties.from_properties(given)
        owner = _owner(stack_id, logical_id, product_id)
        # The properties are the deployed ones: only a data set new to the product is new to the backfill.
        outcome = _reconcile(clients, owner, properties, properties, _work_deadline(deadline, AFTER_DEPLOY_SHARE))
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
            "Pending": len(outcome.pending),
            Detail.EVENT_ACTION_COUNT: len(outcome.data_set_ids),
        }
        logger.info("%s %s: %s", detail_type, product_id, detail)
        for restored in _restored(outcome, properties, stack_id, deployed, trigger):
            logger.warning("%s", restored.reason())
            put_event(clients.events, DetailType.DRIFT_DETECTED, restored.detail(), [stack_id])
    put_event(clients.events, detail_type, detail, [product_id])


def _restored(
    outcome: products.Outcome, properties: ProductProperties, stack_id: str, deployed: stack.Deployed, trigger: str
) -> list[drift.Drift]:
    """What the reconcile had to restore that its trigger does not explain: after Data Exchange's event a data set
    without an event action is one it announced, and a continuation finishes what its deploy began. A data set that
    left the entitled ones is reported whatever the trigger: nothing the stack does explains that."""
    resource = drift.Resource(stack_id, deployed.logical_id, deployed.path, properties.product_id)
    found: list[tuple[str, str, str]] = []
    if trigger == ReconcileRequest.SCHEDULE:
        found += [(DriftKind.DELETED, data_set_id, "no event action of the product's") for data_set_id in outcome.added]
    if trigger != ReconcileRequest.CONTINUATION:
        found += [
            (DriftKind.CHANGED, data_set_id, f"data set {data_set_id} exported to {was}")
            for data_set_id, was in outcome.changed.items()
        ]
    not_listed = f"it is not among the account's entitled data sets of {properties.product_id}"
    found += [(DriftKind.NOT_ENTITLED, data_set_id, not_listed) for data_set_id in outcome.removed]
    return [
        resource.restored(kind, properties.for_data_set(data_set_id), what, outcome.event_actions.get(data_set_id))
        for kind, data_set_id, what in found
    ]
