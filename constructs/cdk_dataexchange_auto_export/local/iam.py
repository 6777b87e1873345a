"""IAM's part: does a role's identity policy allow a request? Written from the IAM user guide. The permission
audit asks it after each invocation (`PermissionAudit`); `LocalIam` asks it at call time, as IAM does, with the
delay a deploy's change of a policy takes to reach the functions.

Small on purpose (no maintained PyPI evaluator fits: moto's skips most condition operators and treats
a missing condition key as a match; the others lint or expand policies and decide nothing). It covers
what identity policies in this project use and refuses anything else rather than guess:
- an explicit Deny wins, then any Allow; otherwise the request is implicitly denied;
- actions match case-insensitively, resources case-sensitively, `*` and `?` as wildcards
  ("IAM JSON policy elements: Action / Resource");
- condition operators are ANDed, the values of one key ORed, and a key missing from the request
  context makes a positive operator false ("Condition operators").
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .account import ACCOUNT, PARTITION, REGION
from .cloudformation import OfflineCloudFormation
from .endpoints.protocol import Authorization
from .lambda_runtime import access_key_of

_OPERATORS = {
    "StringEquals": (False, False),
    "StringLike": (True, False),
    "ArnEquals": (False, False),
    "ArnLike": (True, False),
    "StringNotEquals": (False, True),
    "StringNotLike": (True, True),
    # Compared as the strings "true" and "false" that a request context carries.
    "Bool": (False, False),
    # For a key with one value, as every key of this project's requests has.
    "ForAnyValue:StringEquals": (False, False),
    "ForAnyValue:StringLike": (True, False),
}


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    flags = re.IGNORECASE if ignore_case else 0
    # fnmatch's [...] sets are not IAM syntax: escape them, keep * and ?.
    translated = fnmatch.translate(pattern.replace("[", "[[]"))
    return re.match(translated, value, flags) is not None


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, Any]]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Statement:
        unsupported = sorted(set(raw) - {"Sid", "Effect", "Action", "Resource", "Condition"})
        if unsupported:
            raise ValueError(f"Policy element {unsupported[0]} is not supported by this evaluator")
        for operator in raw.get("Condition", {}):
            if operator not in _OPERATORS:
                raise ValueError(f"Condition operator {operator} is not supported by this evaluator")
        return cls(
            raw["Effect"], tuple(_as_list(raw["Action"])), tuple(_as_list(raw["Resource"])), raw.get("Condition", {})
        )

    def matching_action(self, request: Authorization) -> str | None:
        """The action pattern of this statement that applies to the request, if the statement applies."""
        action = next((a for a in self.actions if _wildcard(a, request.action, ignore_case=True)), None)
        if action is None or not any(_wildcard(resource, request.resource) for resource in self.resources):
            return None
        return action if all(self._condition(op, tests, request) for op, tests in self.conditions.items()) else None

    @staticmethod
    def _condition(operator: str, tests: Mapping[str, Any], request: Authorization) -> bool:
        like, negated = _OPERATORS[operator]
        for key, expected in tests.items():
            present = next((value for name, value in request.context.items() if name.lower() == key.lower()), None)
            if present is None:
                if not negated:
                    return False
                continue
            matched = any(_wildcard(value, present) if like else value == present for value in _as_list(expected))
            if matched == negated:
                return False
        return True


@dataclass(frozen=True)
class Grant:
    """One action of one statement of one role's policies, as the coverage check counts it."""

    role: str
    statement: tuple[str, ...]
    action: str


class IdentityPolicy:
    def __init__(self, statements: Iterable[Mapping[str, Any]], role: str = "") -> None:
        self.statements = [Statement.parse(raw) for raw in statements]
        self.role = role

    @classmethod
    def of(cls, statements: Iterable[Statement], role: str = "") -> IdentityPolicy:
        policy = cls([], role)
        policy.statements = list(statements)
        return policy

    def grants(self) -> set[Grant]:
        allows = (statement for statement in self.statements if statement.effect == "Allow")
        return {Grant(self.role, statement.actions, action) for statement in allows for action in statement.actions}

    def allowing(self, request: Authorization) -> Grant | None:
        """The grant that allows the request, or None when IAM would deny it."""
        if any(s.effect == "Deny" and s.matching_action(request) for s in self.statements):
            return None
        for statement in self.statements:
            action = statement.matching_action(request) if statement.effect == "Allow" else None
            if action is not None:
                return Grant(self.role, statement.actions, action)
        return None


def role_policy(cloudformation: OfflineCloudFormation, function_id: str) -> IdentityPolicy:
    """Every statement of the identity policies of a function's role, resolved as deployed."""
    resources = cloudformation.stack.resources
    role_arn = resources[function_id]["Properties"]["Role"]
    if "Fn::GetAtt" not in role_arn:
        raise ValueError(f"{function_id} uses a role from outside the stack: {role_arn}")
    role_id = role_arn["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    if role.get("ManagedPolicyArns"):
        raise ValueError(f"{role_id} has managed policies, which this audit cannot read")
    documents = [inline["PolicyDocument"] for inline in role.get("Policies", [])]
    documents += [
        policy["Properties"]["PolicyDocument"]
        for policy in resources.values()
        if policy["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in policy["Properties"].get("Roles", [])
    ]
    resolved = cloudformation.resolve(documents)
    statements = (statement for document in resolved for statement in _as_statements(document["Statement"]))
    return IdentityPolicy(statements, role_id)


def _as_statements(statements: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [statements] if isinstance(statements, Mapping) else list(statements)


def lambda_logging(cloudformation: OfflineCloudFormation, function_id: str) -> list[Authorization]:
    """What Lambda does with the function's role on every invocation: write the function's logs to
    its log group (the function's LoggingConfig, else /aws/lambda/NAME)."""
    configured = cloudformation.stack.resources[function_id]["Properties"].get("LoggingConfig", {}).get("LogGroup")
    name = (
        cloudformation.resolve(configured) if configured else f"/aws/lambda/{cloudformation.physical_name(function_id)}"
    )
    stream = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:log-stream:offline"
    return [Authorization("logs:CreateLogStream", stream), Authorization("logs:PutLogEvents", stream)]


class PermissionAudit:
    """Over one or more deployments: every grant of the roles involved, the grants the calls used, and the
    calls no grant allowed. `check` takes one invocation's authorizations against its function's role."""

    def __init__(self) -> None:
        self.granted: set[Grant] = set()
        self.used: set[Grant] = set()
        self.denied: list[Authorization] = []

    def check(self, cloudformation: OfflineCloudFormation, function_id: str, requests: Iterable[Authorization]) -> None:
        policy = role_policy(cloudformation, function_id)
        self.granted |= policy.grants()
        for request in requests:
            grant = policy.allowing(request)
            if grant is None:
                self.denied.append(request)
            else:
                self.used.add(grant)

    def unused(self, role_prefix: str = "") -> list[Grant]:
        """The grants no call used, of the roles whose logical id starts with `role_prefix`."""
        unused = [grant for grant in self.granted - self.used if grant.role.startswith(role_prefix)]
        return sorted(unused, key=lambda grant: (grant.role, grant.statement, grant.action))


class LocalIam:
    """IAM at call time for the functions of the stacks deployed offline: a call their role's policies do not allow
    is refused (the endpoints ask through `authorizer`).

    IAM is eventually consistent ("Changes that I make are not always immediately visible", IAM user guide): a
    statement CloudFormation reports created can be denied for some seconds after. Here a statement a deploy adds
    to a role is denied for `propagation_seconds` after that deploy updated the policies (CloudFormation does that
    before the custom resources that depend on them); one a deploy removes is gone at once, the stricter of the two
    readings. Callers that are no function of a deployed stack (a test's own client) are not checked."""

    def __init__(self, propagation_seconds: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.propagation_seconds = propagation_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # Access key id of a function -> the statements of its role, each with when IAM starts applying it.
        self._roles: dict[str, list[tuple[Statement, float]]] = {}

    def deployed(self, cloudformation: OfflineCloudFormation) -> None:
        """The stack's roles as its template being deployed has them, from now on."""
        now = self._clock()
        with self._lock:
            for function_id in cloudformation.stack.of_type("AWS::Lambda::Function"):
                caller = access_key_of(cloudformation.function_arn(function_id))
                before = {_key(statement): since for statement, since in self._roles.get(caller, [])}
                statements = role_policy(cloudformation, function_id).statements
                self._roles[caller] = [
                    (statement, before.get(_key(statement), now + self.propagation_seconds)) for statement in statements
                ]

    def authorizer(self, caller: str, request: Authorization) -> str | None:
        """None when IAM allows the call now; otherwise its refusal, worded as IAM's."""
        with self._lock:
            if caller not in self._roles:
                return None
            now = self._clock()
            visible = [statement for statement, since in self._roles[caller] if since <= now]
        if IdentityPolicy.of(visible).allowing(request) is not None:
            return None
        return (
            f"User: {caller} is not authorized to perform: {request.action} on resource: {request.resource} because "
            f"no identity-based policy allows the {request.action} action"
        )


def _key(statement: Statement) -> str:
    return json.dumps([statement.effect, statement.actions, statement.resources, statement.conditions], sort_keys=True)
