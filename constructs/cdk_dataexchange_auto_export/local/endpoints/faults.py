"""Fault injection for a local endpoint: failures and delays of the next calls, shaped as its service answers.

Besides errors answered instead of the work (throttling, a conflict, a 500, ...), a call can lose its answer
after the work was done (`lost_answer`): the endpoint performs the operation, then answers 500 or drops the
connection, as a service under load or a network does. A client that retries it does the work twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, get_args

from botocore.model import ServiceModel

from .protocol import ServiceError, enum_of, service_model

WILDCARD = "*"
FaultKind = Literal[
    "throttle", "internal", "access_denied", "validation", "not_found", "conflict", "quota", "lost_answer", "latency"
]

# Each error fault answers as the modeled exception boto3 maps to its own class.
_ERRORS: dict[str, tuple[str, str]] = {
    "throttle": ("ThrottlingException", "Rate exceeded (injected)"),
    "internal": ("InternalServerException", "Internal server error (injected)"),
    "access_denied": ("AccessDeniedException", "User is not authorized to perform {operation} (injected)"),
    "validation": ("ValidationException", "Request rejected by the service (injected)"),
    "not_found": ("ResourceNotFoundException", "The requested resource was not found (injected)"),
    "conflict": ("ConflictException", "The request conflicts with the resource's current state (injected)"),
    # Without LimitName and LimitValue, both optional in the API model; the stand-in's own quotas name theirs.
    "quota": ("ServiceLimitExceededException", "A service quota was exceeded (injected)"),
    "lost_answer": ("InternalServerException", "{operation} was performed but its answer was lost (injected)"),
}


@dataclass(frozen=True)
class Fault:
    """A failure or delay to inject into the next ``count`` calls of an operation. A `lost_answer` answers
    500 after the work, or with `drop_connection` closes the connection without any answer."""

    kind: FaultKind
    count: int = 1
    exception_cause: str | None = None
    seconds: float = 0.0
    drop_connection: bool = False

    def __post_init__(self) -> None:
        # Fail at inject() time: a typo would otherwise make a test pass without any fault happening.
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"Unknown fault kind {self.kind!r}: expected one of {', '.join(get_args(FaultKind))}")
        if self.count < 1:
            raise ValueError(f"Fault count must be at least 1, got {self.count}")
        if self.seconds < 0:
            raise ValueError(f"Fault seconds must not be negative, got {self.seconds}")
        if self.drop_connection and self.kind != "lost_answer":
            raise ValueError("drop_connection only applies to a 'lost_answer' fault")
        if self.exception_cause is not None:
            if self.kind != "validation":
                raise ValueError("exception_cause only applies to a 'validation' fault")
            # Of the services served offline only Data Exchange has an ExceptionCause.
            causes = enum_of(service_model("dataexchange"), "ValidationException", "ExceptionCause")
            if self.exception_cause not in causes:
                raise ValueError(f"Unknown ExceptionCause {self.exception_cause!r}: expected one of {causes}")

    @property
    def after_the_work(self) -> bool:
        """Whether the operation is performed before the fault strikes."""
        return self.kind == "lost_answer"

    def error(self, operation: str, model: ServiceModel) -> ServiceError:
        code, message = _ERRORS[self.kind]
        members = {"ExceptionCause": self.exception_cause} if self.exception_cause else {}
        return ServiceError(code, message.format(operation=f"{model.signing_name}:{operation}"), **members)


@dataclass
class _Pending:
    fault: Fault
    remaining: int


class Faults:
    """Faults waiting for their operation of `model`'s service (or, under WILDCARD, for whatever
    operation comes next)."""

    def __init__(self, model: ServiceModel, operations: Collection[str]) -> None:
        self._model = model
        self._operations = operations
        self._pending: dict[str, list[_Pending]] = {}
        self._lock = threading.Lock()

    def inject(self, operation: str, fault: Fault) -> None:
        if operation != WILDCARD and operation not in self._operations:
            expected = ", ".join(sorted(self._operations))
            raise ValueError(f"Unknown operation {operation!r}: expected {WILDCARD!r} or one of {expected}")
        with self._lock:
            self._pending.setdefault(operation, []).append(_Pending(fault, fault.count))

    def apply(self, operation: str) -> Fault | None:
        """Sleeps for a pending delay and returns a pending failure for the caller to raise, before or
        after the work: at most one of each per call, the operation's own before the wildcard's, oldest first."""
        delay: float | None = None
        failure: Fault | None = None
        with self._lock:
            for key in (operation, WILDCARD):
                pending = self._pending.get(key, [])
                for entry in pending:
                    if entry.fault.kind == "latency" and delay is None:
                        delay = entry.fault.seconds
                        entry.remaining -= 1
                    elif entry.fault.kind != "latency" and failure is None:
                        failure = entry.fault
                        entry.remaining -= 1
                self._pending[key] = [entry for entry in pending if entry.remaining > 0]
        if delay:
            # Outside the lock, so a slow call does not hold up the others.
            time.sleep(delay)
        return failure
