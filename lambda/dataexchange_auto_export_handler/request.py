"""A CloudFormation request to one of the custom resources, as the resource modules read it, and their answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """What CloudFormation asks of a resource (the ResponseURL stays with crhelper: it is a credential)."""

    request_type: str
    stack_id: str
    logical_id: str
    properties: Mapping[str, Any]
    # The resource's physical id and properties before the change: absent from a Create.
    physical_id: str | None = None
    old_properties: Mapping[str, Any] | None = None
    # When the invocation ends (Lambda's timeout), on time.monotonic()'s clock; None: no limit.
    deadline: float | None = None

    @classmethod
    def of(cls, event: Mapping[str, Any], deadline: float | None = None) -> Request:
        return cls(
            event["RequestType"],
            event["StackId"],
            event["LogicalResourceId"],
            event["ResourceProperties"],
            event.get("PhysicalResourceId"),
            event.get("OldResourceProperties"),
            deadline,
        )


@dataclass(frozen=True)
class Answer:
    """A Create's or Update's answer: the physical id, and the attributes `Fn::GetAtt` reads (strings only)."""

    physical_id: str
    data: Mapping[str, str] = field(default_factory=dict)
