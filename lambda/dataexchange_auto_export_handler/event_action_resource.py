"""`Custom::DataExchangeEventAction`: one event action, made, kept in step and deleted with its resource; its
backfill started when the properties ask for existing revisions they did not ask for before."""

from __future__ import annotations

import logging

from . import backfill, event_actions
from .backfill_chain import Cursor
from .clients import Clients
from .event_actions import EventAction, Owner
from .properties import EventActionProperties
from .request import Answer, Request
from .rules import PropertyError

logger = logging.getLogger(__name__)


def _owner(request: Request) -> Owner:
    return Owner(request.stack_id, request.logical_id)


def _answer(
    clients: Clients, properties: EventActionProperties, event_action: EventAction, old: EventActionProperties | None
) -> Answer:
    if properties.widens_backfill_of(old):
        cursor = Cursor(properties.data_set_id, event_action.arn, latest=properties.export.latest_revisions)
        backfill.start(clients, cursor)
    return Answer(event_action.id, event_action.data())


def create(clients: Clients, request: Request) -> Answer:
    properties = EventActionProperties.from_properties(request.properties)
    event_action = event_actions.create_event_action(clients.dataexchange, properties, _owner(request))
    return _answer(clients, properties, event_action, None)


def update(clients: Clients, request: Request) -> Answer:
    """In place, or a replacement (another id, after which CloudFormation deletes the old one) for another data
    set or an event action that is gone."""
    properties = EventActionProperties.from_properties(request.properties)
    try:
        old: EventActionProperties | None = EventActionProperties.from_properties(request.old_properties or {})
    except PropertyError:
        old = None
    event_action = event_actions.update_event_action(
        clients.dataexchange,
        str(request.physical_id),
        properties,
        old.data_set_id if old else None,
        _owner(request),
    )
    return _answer(clients, properties, event_action, old)


def delete(clients: Clients, request: Request) -> None:
    """The event action the physical id names; for an id of crhelper's or CloudFormation's (a Create that failed,
    or one cancelled while it ran), whatever of the data set this resource made."""
    owner = _owner(request)
    if event_actions.is_event_action_id(request.physical_id):
        event_actions.delete_owned_event_action(clients.dataexchange, str(request.physical_id), owner)
        return
    try:
        properties = EventActionProperties.from_properties(request.properties)
    except PropertyError:
        logger.info("Properties a Create refuses: it made nothing, so there is nothing to delete")
        return
    deleted = event_actions.delete_made_by(clients.dataexchange, properties, owner)
    logger.info(
        "Physical id %r is no event action's: deleted what this resource made on data set %s: %s",
        request.physical_id,
        properties.data_set_id,
        ", ".join(deleted) or "nothing",
    )
