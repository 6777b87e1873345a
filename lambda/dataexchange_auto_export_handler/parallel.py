"""Calls made at once: a product of a thousand data sets, or a stack of many event actions, at the service's pace
(a quarter of a second a call) takes minutes one call at a time, and the handler has one.

The service's rate quotas for these calls are not documented; botocore's standard mode retries a throttled call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Calls in flight at once (clients.RETRY_CONFIG keeps a connection for each).
CONCURRENCY = 16


def each(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`function` of every item, CONCURRENCY at a time, in the items' order. The first failure (in that order) is
    raised once the calls under way have ended; those not started by then are not made."""
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as executor:
        futures = [executor.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()
