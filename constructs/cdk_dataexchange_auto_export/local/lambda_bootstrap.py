"""Runs one handler invocation the way the Lambda Python runtime would, in a separate process.

Started as `python -I -B lambda_bootstrap.py ASSET_DIR HANDLER TIMEOUT_MS STATS_FILE FUNCTION_ARN` with the
event on stdin, by a Python whose environment holds only boto3: with -I neither PYTHONPATH, the user site
nor this file's folder is importable, so the handler sees the standard library, boto3 and the
asset, as in AWS. Standard library only.

With VIRTUAL_CLOCK set (a file, `VirtualClock`), the invocation runs in virtual time: `time.sleep` moves the
clock on instead of waiting, `time.time` reads it, the context's remaining time counts down on it, and an
invocation that sleeps past its timeout ends as Lambda ends one that runs past it. A backfill of thousands of
ten-minute export jobs then runs in seconds, against a Data Exchange whose jobs run on the same clock.
"""

import fcntl
import importlib
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any, SupportsIndex

# Set by the offline Lambda service to end this invocation as an out-of-memory kill would, once the handler
# is loaded: the process dies by SIGKILL, with nothing reported.
CRASH = "OFFLINE_LAMBDA_CRASH"
# The virtual clock's file, when the invocation runs in virtual time.
VIRTUAL_CLOCK = "OFFLINE_VIRTUAL_CLOCK"


class VirtualClock:
    """Seconds since the epoch, moved on only by `advance`, kept in a file so that the test, the stand-ins and
    each Lambda-like process share one clock (read and moved under an exclusive lock). It starts at the time
    it is made."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "a+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            file.seek(0)
            if not file.read():
                file.write(repr(time.time()))

    def _update(self, change: Callable[[float], float]) -> float:
        with open(self.path, "r+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            now = change(float(file.read()))
            file.seek(0)
            file.truncate()
            file.write(repr(now))
            return now

    def now(self) -> float:
        with open(self.path) as file:
            fcntl.flock(file, fcntl.LOCK_SH)
            return float(file.read())

    def advance(self, seconds: float) -> float:
        """Moves the clock on by `seconds` (a sleep); returns the time then."""
        return self._update(lambda now: now + max(0.0, seconds))


class LambdaContext:
    """What the runtime passes as `context`, from the environment the runner sets as Lambda would."""

    def __init__(self, timeout_ms: int, function_arn: str, clock: Callable[[], float] = time.monotonic) -> None:
        function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._clock = clock
        self.deadline = clock() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self._clock()) * 1000))


class _Stats:
    """What the runner reads back: the init, invoke and memory figures, the error Lambda would report, and the
    virtual seconds the invocation took (billed as Lambda bills its duration)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.started = time.perf_counter()
        self.ready = self.started

    def write(self, error: Any, virtual_seconds: float | None) -> None:
        with open(self.path, "w") as stats:
            json.dump(
                {
                    "init_seconds": self.ready - self.started,
                    "invoke_seconds": time.perf_counter() - self.ready,
                    "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                    "virtual_seconds": virtual_seconds,
                    "error": error,
                },
                stats,
            )


def _in_virtual_time(clock: VirtualClock, timeout_ms: int, stats: _Stats) -> Callable[[], float]:
    """Puts this process on the virtual clock; returns what the context counts down on."""
    started = clock.now()
    deadline = started + timeout_ms / 1000

    def sleep(seconds: float | SupportsIndex) -> None:
        if clock.advance(float(seconds)) > deadline:
            # Lambda stops an invocation at its timeout, whatever it is doing, and reports this.
            clock.advance(deadline - clock.now())
            timed_out = {"errorMessage": f"Task timed out after {timeout_ms / 1000:.2f} seconds"}
            stats.write(timed_out, deadline - started)
            os._exit(0)

    time.sleep = sleep
    time.time = clock.now
    return clock.now


def main() -> None:
    asset_dir, handler, timeout_ms, stats_file, function_arn = sys.argv[1:6]
    event = json.load(sys.stdin)
    # The Lambda runtime gives the root logger a handler on stdout; without one, INFO logs vanish.
    logging.basicConfig(stream=sys.stdout, format="[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s")
    stats = _Stats(stats_file)
    clock_file = os.environ.get(VIRTUAL_CLOCK)
    virtual = VirtualClock(clock_file) if clock_file else None
    # Before the handler is imported, so that what it binds at import (a default argument) is virtual too.
    clock = _in_virtual_time(virtual, int(timeout_ms), stats) if virtual else time.monotonic
    started = clock()
    sys.path.insert(0, asset_dir)
    module_name, function_name = handler.rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    stats.ready = time.perf_counter()
    if os.environ.get(CRASH):
        os.kill(os.getpid(), signal.SIGKILL)
    error = None
    try:
        function(event, LambdaContext(int(timeout_ms), function_arn, clock))
    except Exception as unhandled:
        # What the runtime reports of an unhandled error, and prints to the function's log.
        error = {
            "errorMessage": str(unhandled),
            "errorType": type(unhandled).__name__,
            "stackTrace": traceback.format_tb(unhandled.__traceback__),
        }
        traceback.print_exc()
    stats.write(error, clock() - started if virtual else None)


if __name__ == "__main__":
    main()
