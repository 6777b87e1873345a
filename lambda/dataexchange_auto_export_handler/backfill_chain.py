"""What a backfill's chain of invocations carries and claims: the cursor each hand-over passes on, whatever the data
set's size, and the claim in the event action's BACKFILL_TAG that keeps one chain per event action."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .contract import BACKFILL_TAG

if TYPE_CHECKING:
    from mypy_boto3_dataexchange.type_defs import GetEventActionResponseTypeDef


@dataclass
class Cursor:
    """Where a backfill stands: the whole state a hand-over carries, whatever the data set's size."""

    data_set_id: str
    event_action_arn: str
    latest: int | None = None  # the newest n revisions, or None for all
    oldest: tuple[str, str] | None = None  # (CreatedAt, Id) of the oldest revision in scope, fixed at the start
    after: tuple[str, str] | None = None  # (CreatedAt, Id) of the newest revision listed into `ahead` so far
    ahead: list[str] = field(default_factory=list)  # listed, in scope, not dealt with yet: oldest first
    checked: str | None = None  # the first of `ahead`, known not to be exported already
    in_flight: list[dict[str, Any]] = field(default_factory=list)  # {JobId, RevisionId, Attempt, Started, ...}
    retry: list[dict[str, Any]] = field(default_factory=list)  # {RevisionId, Attempt, NotBefore}
    exported: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)  # {RevisionId, Errors}, at most LISTED_FAILURES
    invocation: int = 1
    product_id: str | None = None  # the product whose data set this is, for a product's construct
    chain: str = ""  # this backfill's id, in BACKFILL_TAG (set by `start`; none for a chain begun without one)
    started: float | None = None  # when the chain's first invocation began (seconds since the epoch)
    idle: int = 0  # invocations in a row that dealt with no revision
    job_seconds: float | None = None  # how long this backfill's export jobs take, by those seen to end

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Cursor:
        cursor = cls(**payload)
        cursor.oldest = tuple(cursor.oldest) if cursor.oldest else None  # type: ignore[assignment]
        cursor.after = tuple(cursor.after) if cursor.after else None  # type: ignore[assignment]
        return cursor

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def dealt_with(self) -> int:
        return self.exported + self.skipped + self.failed


def new_chain() -> str:
    """A chain id that sorts after every earlier one: the time in microseconds, in hex, then a random part."""
    return f"{int(time.time() * 1_000_000):014x}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claim:
    """What BACKFILL_TAG holds: the chain, the invocation of it that holds the chain (or will: `token` empty),
    and that delivery's token."""

    chain: str
    invocation: int
    token: str = ""

    @classmethod
    def read(cls, event_action: GetEventActionResponseTypeDef) -> Claim | None:
        """None when the tag is missing or unreadable (removed or edited by hand): nobody else's claim, then."""
        chain, _, rest = event_action.get("Tags", {}).get(BACKFILL_TAG, "").partition(":")
        invocation, _, token = rest.partition(":")
        return cls(chain, int(invocation), token) if chain and invocation.isdigit() else None

    def tag(self) -> dict[str, str]:
        return {BACKFILL_TAG: f"{self.chain}:{self.invocation}:{self.token}"}
