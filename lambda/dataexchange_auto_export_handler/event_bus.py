"""The package's own events, put on the account's default event bus: a backfill's end, a product's reconcile.

EventBridge answers PutEvents with HTTP 200 even when it refused an entry (`FailedEntryCount`, and an
`ErrorCode` on the entry): botocore sees no error, so the entry is tried again here, then logged as an error.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .contract import EVENT_SOURCE

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

logger = logging.getLogger(__name__)

# Entries refused for a passing reason (throttling, an internal failure) get this many tries in all, waiting
# 1, 2, 4 and 8 s between them: 15 s, well within the shortest function timeout that sends one (60 s).
ATTEMPTS = 5


def put_event(
    events: EventBridgeClient,
    detail_type: str,
    detail: Mapping[str, Any],
    resources: Sequence[str],
    sleep: Callable[[float], object] = time.sleep,
) -> bool:
    """Puts one event of the package's source; False, with an error logged, when EventBridge kept refusing it."""
    entry: PutEventsRequestEntryTypeDef = {
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": list(resources),
    }
    for attempt in range(1, ATTEMPTS + 1):
        answer = events.put_events(Entries=[entry])
        if not answer.get("FailedEntryCount"):
            return True
        refused = answer["Entries"][0]
        if attempt < ATTEMPTS:
            sleep(2 ** (attempt - 1))
    logger.error(
        "EventBridge refused the %r event after %d attempts (%s: %s): %s",
        detail_type,
        ATTEMPTS,
        refused.get("ErrorCode"),
        refused.get("ErrorMessage"),
        entry.get("Detail"),
    )
    return False
