"""EventBridge's part: the default bus of the offline account, with the rules of a synthesized stack,
and its PutEvents API (`LocalEventBridge`) for functions that send events of their own.

An event put on the bus is matched against every enabled rule's pattern by moto's implementation of
EventBridge's pattern language (moto.events.models.EventPattern: equals-ignore-case, prefix,
anything-but, exists, numeric, $or), and each target of a matching rule gets its input: the event,
a constant `Input`, or an `InputTransformer` applied as the EventBridge user guide's "Transforming
target input" describes (below).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, cast

from moto.events.models import EventPattern

from .account import ACCOUNT, PARTITION, REGION
from .cloudformation import OfflineCloudFormation
from .endpoints.protocol import Operation, Request
from .endpoints.server import LocalEndpoint

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_\-]+)>")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def envelope(
    source: str, detail_type: str, detail: Mapping[str, Any], resources: Sequence[str] = (), region: str = REGION
) -> dict[str, Any]:
    """An event as EventBridge delivers it ("Amazon EventBridge events" in its user guide): the sender's
    source, detail-type, resources and detail, in the bus's envelope."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
    }


@dataclass(frozen=True)
class Target:
    id: str
    arn: str
    input: str | None = None
    input_transformer: Mapping[str, Any] | None = None

    def input_for(self, event: Mapping[str, Any]) -> str:
        if self.input_transformer is not None:
            return transform(self.input_transformer, event)
        return self.input if self.input is not None else json.dumps(event)


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: Mapping[str, Any] | None  # None: a schedule's rule
    targets: Sequence[Target]
    schedule: str | None = None

    @cached_property
    def _event_pattern(self) -> EventPattern:
        # Parsed once: every event put on the bus is matched against every rule.
        return EventPattern.load(json.dumps(self.pattern))

    def matches(self, event: Mapping[str, Any]) -> bool:
        # moto types the event as its own TypedDict; any mapping of the documented shape is one.
        return self.pattern is not None and bool(self._event_pattern.matches_event(cast(Any, event)))


@dataclass(frozen=True)
class Delivery:
    """What one target of one rule received for one event."""

    event_id: str
    rule: str
    target: Target
    input: str

    @property
    def message(self) -> str:
        """The input as a person reads it: a JSON string's text, anything else as delivered."""
        try:
            decoded = json.loads(self.input)
        except ValueError:
            return self.input
        return decoded if isinstance(decoded, str) else self.input


@dataclass
class LocalEventBus:
    """The default bus: every event put on it, the rules each matched (by event id, targets or not),
    and every delivery its rules made. A Lambda function target is invoked asynchronously through
    `invoke` (function ARN, event), as EventBridge invokes one; other targets only record their input."""

    events: list[dict[str, Any]] = field(default_factory=list)
    matches: dict[str, list[str]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    invoke: Callable[[str, dict[str, Any]], None] | None = None
    # Stack name -> its rules: a runner made again for a stack replaces the one before it.
    _stacks: dict[str, OfflineCloudFormation] = field(default_factory=dict, init=False)

    @property
    def rules(self) -> list[Rule]:
        """The enabled rules of the default bus in the stacks served, their intrinsic functions resolved against
        each stack as it stands now (a target's input may name the stack, which exists once deployed)."""
        return [rule for cloudformation in list(self._stacks.values()) for rule in _rules_of(cloudformation)]

    def serve(self, cloudformation: OfflineCloudFormation) -> None:
        """The rules of the stack, in place of those the stack had before."""
        self._stacks[cloudformation.stack.stack_name] = cloudformation

    def put(self, event: Mapping[str, Any]) -> list[Delivery]:
        self.events.append(dict(event))
        matched = [rule for rule in self.rules if rule.matches(event)]
        self.matches[event["id"]] = [rule.name for rule in matched]
        return self._deliver(event, matched)

    def run_schedules(self) -> list[Delivery]:
        """Every schedule's rule comes due once: its targets get the `Scheduled Event` EventBridge sends."""
        delivered = []
        for rule in self.rules:
            if rule.schedule is None:
                continue
            rule_arn = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{rule.name}"
            delivered += self._deliver(envelope("aws.events", "Scheduled Event", {}, [rule_arn]), [rule])
        return delivered

    def _deliver(self, event: Mapping[str, Any], rules: Sequence[Rule]) -> list[Delivery]:
        delivered = [
            Delivery(event["id"], rule.name, target, target.input_for(event))
            for rule in rules
            for target in rule.targets
        ]
        self.deliveries += delivered
        for delivery in delivered:
            if self.invoke is not None and delivery.target.arn.split(":")[2:3] == ["lambda"]:
                self.invoke(delivery.target.arn, json.loads(delivery.input))
        return delivered


def _rules_of(cloudformation: OfflineCloudFormation) -> list[Rule]:
    rules = []
    for logical_id in cloudformation.stack.of_type("AWS::Events::Rule"):
        properties = cloudformation.resolve(cloudformation.stack.resources[logical_id]["Properties"])
        if properties.get("State", "ENABLED") != "ENABLED" or properties.get("EventBusName", "default") != "default":
            continue
        targets = [
            Target(target["Id"], target["Arn"], target.get("Input"), target.get("InputTransformer"))
            for target in properties.get("Targets", [])
        ]
        rules.append(Rule(logical_id, properties.get("EventPattern"), targets, properties.get("ScheduleExpression")))
    return rules


class LocalEventBridge(LocalEndpoint):
    """PutEvents onto the default bus: each entry becomes an event in the shape EventBridge delivers.

    As the PutEvents API reference describes, the call can succeed (HTTP 200) while some entries fail: the
    answer counts them in `FailedEntryCount` and gives each an `ErrorCode` and `ErrorMessage` in place of an
    `EventId`. `refuse_next(count, code)` refuses the next `count` entries so, with a code of the reference
    (`ThrottlingException` and `InternalFailure` are the passing kinds)."""

    def __init__(self, bus: LocalEventBus) -> None:
        operations: dict[str, Operation] = {"PutEvents": self._put_events}
        super().__init__("events", operations)
        self.bus = bus
        self._refusals: list[str] = []  # the error codes of the next entries to refuse, in turn
        self.refused: list[dict[str, Any]] = []  # every entry refused, with its error

    def refuse_next(self, count: int = 1, code: str = "ThrottlingException") -> None:
        with self.lock:
            self._refusals += [code] * count

    def _put_events(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        for entry in params["Entries"]:
            bus_name = entry.get("EventBusName", "default")
            request.authorize(
                "events:PutEvents", f"arn:{PARTITION}:events:{request.region}:{ACCOUNT}:event-bus/{bus_name}"
            )
            if self._refusals:
                error = {"ErrorCode": self._refusals.pop(0), "ErrorMessage": "The entry was not put on the bus"}
                self.refused.append({**entry, **error})
                entries.append(error)
                continue
            detail = json.loads(entry.get("Detail") or "{}")
            event = envelope(entry["Source"], entry["DetailType"], detail, entry.get("Resources", []), request.region)
            self.bus.put(event)
            entries.append({"EventId": event["id"]})
        return {"FailedEntryCount": sum("ErrorCode" in entry for entry in entries), "Entries": entries}


def _value_at(event: Any, path: str) -> Any:
    """A JSON path of the dot notation InputPathsMap takes ($.detail.DataSets[0].Name); None if absent."""
    node = event
    for name, index in _STEP.findall(path.removeprefix("$").lstrip(".")):
        if index:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        else:
            node = node.get(name) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _unquoted(value: Any) -> str:
    """A value inside a quoted template string: strings as they are, arrays and objects without quotes."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ",".join(_unquoted(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{_unquoted(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def transform(transformer: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """Fills the InputTemplate's <placeholders> from the InputPathsMap paths. Inside a quoted string a
    value goes in unescaped (an array as [a,b]); outside, as JSON. A path the event lacks gives an
    empty value ("that variable isn't created"). Predefined <aws.events.*> variables are not supported."""
    values = {name: _value_at(event, path) for name, path in transformer.get("InputPathsMap", {}).items()}
    template: str = transformer["InputTemplate"]
    output, in_string, position = [], False, 0
    for index, character in enumerate(template):
        if character == '"' and (index == 0 or template[index - 1] != "\\"):
            in_string = not in_string
        match = _PLACEHOLDER.match(template, index) if character == "<" else None
        if match is None or index < position or match.group(1) not in values:
            continue
        output.append(template[position:index])
        value = values[match.group(1)]
        output.append(_unquoted(value if value is not None else "") if in_string else json.dumps(value or ""))
        position = match.end()
    output.append(template[position:])
    return "".join(output)
