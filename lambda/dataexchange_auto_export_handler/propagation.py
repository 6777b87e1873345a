"""AccessDenied retried while a deploy's own IAM change may not have reached the handler yet.

IAM is eventually consistent: a statement CloudFormation reports created (a new key's kms:CreateGrant, a data set's
GetDataSet, the stack read a new release adds) can be denied for some seconds after (the IAM user guide,
"Changes that I make are not always immediately visible"; aws-cdk's own custom resources met it in issue 37675
and retry AccessDenied for about 30 s in PR 37878). Every CloudFormation request comes during a deploy that may
have changed the handler's policy, and the handler cannot tell whether this one did, so each retries AccessDenied
for at most PROPAGATION_SECONDS from its start, and never into the last RESERVE_SECONDS of the invocation: the
rest of the request, and crhelper's answer, must fit before Lambda's timeout, and the answer before the custom
resource's ServiceTimeout. Outside a request (a reconcile after the deploy, the worker) a denial is final at once.

It hooks botocore's `needs-retry` event, which botocore emits after every attempt and which its own retry handler
answers too: whichever answers with a delay makes botocore sleep and send the call again, so every call of every
client is covered, a paginator's pages included, and the other errors keep botocore's standard retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

# Data Exchange, Lambda and EventBridge answer AccessDeniedException; CloudFormation (a Query API) AccessDenied.
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
PROPAGATION_SECONDS = 30.0
RESERVE_SECONDS = 20.0
# Waits of 1, 2, 4, 8 s, then 8 s each: a change seen in 3 s costs at most 3 s more.
MAX_DELAY_SECONDS = 8.0


class PropagationRetry:
    """Retries AccessDenied until a deadline set per request (none outside one). `clock` reads monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def register(self, client: Any) -> None:
        """Makes `client`'s calls retry AccessDenied within the current window."""
        client.meta.events.register("needs-retry", self._needs_retry)

    @contextmanager
    def window(self, remaining_seconds: float) -> Iterator[None]:
        """While the block runs, AccessDenied is retried for PROPAGATION_SECONDS at most, ending RESERVE_SECONDS
        before the invocation's `remaining_seconds` run out."""
        now = self._clock()
        self._until = now + min(PROPAGATION_SECONDS, remaining_seconds - RESERVE_SECONDS)
        try:
            yield
        finally:
            self._until = 0.0

    def _needs_retry(
        self, attempts: int, response: tuple[Any, Mapping[str, Any]] | None = None, **_: Any
    ) -> float | None:
        """A delay before the next attempt, for AccessDenied within the window; None leaves the call to botocore's
        own retry handler (which retries none of AccessDenied)."""
        if response is None or response[1].get("Error", {}).get("Code") not in ACCESS_DENIED:
            return None
        delay = min(2.0 ** (attempts - 1), MAX_DELAY_SECONDS)
        left = self._until - self._clock()
        if left <= 0:
            return None
        delay = min(delay, left)
        logger.info(
            "Access denied (attempt %d): retrying in %.1f s, as a policy change of this deploy may not be visible yet",
            attempts,
            delay,
        )
        return delay
