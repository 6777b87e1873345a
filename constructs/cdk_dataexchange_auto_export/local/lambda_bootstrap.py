"""Runs a function's invocations the way the Lambda Python runtime would, in an execution environment of its own: a
separate process that loads the handler once and then runs one invocation after another.

Started as `python -I -B lambda_bootstrap.py ASSET_DIR HANDLER FUNCTION_ARN` with the function's environment
variables, by a Python whose environment holds only boto3: with -I neither PYTHONPATH, the user site nor this
file's folder is importable, so the handler sees the standard library, boto3 and the asset, as in AWS. Standard
library only.

The process follows the Lambda developer guide's "Lambda execution environment lifecycle": Init once (the handler's
module imported, at the first invocation), then Invoke as often as requests come, each to its end before the next;
Shutdown when its stdin closes. Each request is one JSON line on stdin: the event, the timeout in milliseconds, the
variables Lambda sets for that invocation only (`_X_AMZN_TRACE_ID`), removed again after it, and the file that
gets what the invocation prints (its stdout and stderr, the function's log). Each result is one JSON line on the
process's own stdout: the init figure (a cold start only, as in Lambda's REPORT line), the invoke and memory
figures, and the error Lambda would report. After an error or a timeout the runner ends the process: Lambda resets
the environment then.

With VIRTUAL_CLOCK set (a file, `VirtualClock`), the invocations run in virtual time: `time.sleep` moves the
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
from typing import Any, SupportsIndex, TextIO

# Set by the offline Lambda service for one invocation to end it as an out-of-memory kill would, once the handler
# is loaded: the process dies by SIGKILL, with nothing reported.
CRASH = "OFFLINE_LAMBDA_CRASH"
# The virtual clock's file, when the invocations run in virtual time.
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


class ExecutionEnvironment:
    """The handler, loaded at the first invocation, and the invocation running: its deadline on the clock the
    context counts down on, and where its result goes (`results`, one JSON line each). Between invocations, what
    the function left running writes to `stderr`, the process's own."""

    def __init__(self, asset_dir: str, handler: str, function_arn: str, results: TextIO, stderr: int) -> None:
        self.asset_dir, self.handler, self.function_arn = asset_dir, handler, function_arn
        self.results, self.stderr = results, stderr
        self.function: Callable[[Any, LambdaContext], Any] | None = None
        clock_file = os.environ.get(VIRTUAL_CLOCK)
        self.virtual = VirtualClock(clock_file) if clock_file else None
        # Before the handler is imported, so that what it binds at import (a default argument) is virtual too.
        self.clock = self._in_virtual_time(self.virtual) if self.virtual else time.monotonic
        self.timeout_ms = 0
        self.started = self.clock()

    def _in_virtual_time(self, clock: VirtualClock) -> Callable[[], float]:
        """Puts this process on the virtual clock; returns what the context counts down on."""

        def sleep(seconds: float | SupportsIndex) -> None:
            deadline = self.started + self.timeout_ms / 1000
            if clock.advance(float(seconds)) > deadline:
                # Lambda stops an invocation at its timeout, whatever it is doing, and reports this; the environment
                # ends with it (the runner would end it anyway: a timeout resets the environment).
                clock.advance(deadline - clock.now())
                timed_out = {"errorMessage": f"Task timed out after {self.timeout_ms / 1000:.2f} seconds"}
                self._report({"virtual_seconds": deadline - self.started, "error": timed_out})
                os._exit(0)

        time.sleep = sleep
        time.time = clock.now
        return clock.now

    def invoke(self, request: dict[str, Any]) -> None:
        """Runs one invocation to its end, its output in its own file, its variables set for it alone. An error
        outside the handler's call (its module failing to load) ends the process, its traceback in that output."""
        _redirect_output(os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
        before = {name: os.environ.get(name) for name in request["environment"]}
        os.environ.update(request["environment"])
        self._invoke(request["event"], int(request["timeout_ms"]))
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
        _redirect_output(os.dup(self.stderr))

    def _invoke(self, event: Any, timeout_ms: int) -> None:
        self.timeout_ms, self.started = timeout_ms, self.clock()
        began = time.perf_counter()
        figures: dict[str, Any] = {}
        if self.function is None:
            # Init: the first invocation of an environment is its cold start.
            sys.path.insert(0, self.asset_dir)
            module_name, function_name = self.handler.rsplit(".", 1)
            self.function = getattr(importlib.import_module(module_name), function_name)
            figures["init_seconds"] = time.perf_counter() - began
        if os.environ.get(CRASH):
            os.kill(os.getpid(), signal.SIGKILL)
        ready = time.perf_counter()
        error = None
        try:
            self.function(event, LambdaContext(timeout_ms, self.function_arn, self.clock))
        except Exception as unhandled:
            # What the runtime reports of an unhandled error, and prints to the function's log.
            error = {
                "errorMessage": str(unhandled),
                "errorType": type(unhandled).__name__,
                "stackTrace": traceback.format_tb(unhandled.__traceback__),
            }
            traceback.print_exc()
        figures["invoke_seconds"] = time.perf_counter() - ready
        figures["virtual_seconds"] = self.clock() - self.started if self.virtual else None
        self._report({**figures, "error": error})

    def _report(self, figures: dict[str, Any]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        figures["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.results.write(json.dumps(figures) + "\n")
        self.results.flush()


def _redirect_output(target: int) -> None:
    """Points file descriptors 1 and 2 (and so print, logging and child processes) at `target`, which it closes."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


def main() -> None:
    asset_dir, handler, function_arn = sys.argv[1:4]
    # The results go where stdout went, which from now on is each invocation's output.
    results, stderr = os.fdopen(os.dup(1), "w"), os.dup(2)
    _redirect_output(os.dup(stderr))
    # The Lambda runtime gives the root logger a handler on stdout; without one, INFO logs vanish.
    logging.basicConfig(stream=sys.stdout, format="[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s")
    environment = ExecutionEnvironment(asset_dir, handler, function_arn, results, stderr)
    for line in iter(sys.stdin.readline, ""):
        environment.invoke(json.loads(line))


if __name__ == "__main__":
    main()
