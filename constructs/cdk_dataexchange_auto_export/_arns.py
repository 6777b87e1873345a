"""ARNs the provider's roles name, in the stack's partition, Region and account."""

from __future__ import annotations

from aws_cdk import Stack


def event_actions(stack: Stack) -> str:
    """Every event action of the stack's account and Region: ids are assigned by the service at creation."""
    return stack.format_arn(service="dataexchange", resource="event-actions", resource_name="*")


def data_set(stack: Stack, data_set_id: str) -> str:
    """An entitled data set (`*`: any), which belongs to its provider's account, which the subscriber cannot name."""
    return stack.format_arn(service="dataexchange", account="*", resource="data-sets", resource_name=data_set_id)


def default_event_bus(stack: Stack) -> str:
    return stack.format_arn(service="events", resource="event-bus", resource_name="default")


def stack(of: Stack) -> str:
    """The stack, whatever id CloudFormation gave it (arn:...:stack/NAME/ID)."""
    return of.format_arn(service="cloudformation", resource="stack", resource_name=f"{of.stack_name}/*")
