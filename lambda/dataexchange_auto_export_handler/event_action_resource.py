"""`Custom::DataExchangeEventAction`: one event action, made, kept in step and deleted with its resource; its
backfill started when the properties ask for existing revisions they did not ask for before."""

from __future__ import annotations

from . import backfill, event_actions
from .clients import Clients
from .event_actions import EventAction, Owner
from .properties import EventActionProperties
from .request import Answer, Request
from .rules import PropertyError


def _owner(request: Request) -> Owner:
    return Owner(request.stack_id, request.logical_id)


def _answer(
    clients: Clients, properties: EventActionProperties, event_action: EventAction, old: EventActionProperties | None
) -> Answer:
    if properties.widens_backfill_of(old):
        cursor = backfill.Cursor(properties.data_set_id, event_action.arn, latest=properties.export.latest_revisions)
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
    event_actions.delete_owned_event_action(clients.dataexchange, str(request.physical_id), _owner(request))
