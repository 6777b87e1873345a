"""Invokes a function from its staged asset the way the Lambda Python runtime would: in an execution environment, a
process whose interpreter holds only boto3 (`python -I`: no PYTHONPATH, no user site), with the asset first on
`sys.path`, Lambda's environment variables and a context object (`lambda_bootstrap.py`).

Environments are reused as Lambda reuses them (the Lambda developer guide, "Lambda execution environment
lifecycle"): after an invocation ends, its environment (process, module globals, /tmp) is kept, and the next
invocation of the same function runs in it without a new Init, so the handler must survive warm starts as in AWS.
One that crashed, timed out or ended in an error is ended instead (Lambda resets the environment after a crash or a
timeout; after any error here, to be safe), and concurrent invocations each get an environment of their own.
`close` is the Shutdown of them all.

Among the variables, `_X_AMZN_TRACE_ID`, the X-Ray trace header Lambda sets for every invocation, active
tracing or not. Its `Lineage` field is how Lambda's recursive loop detection counts the invocations of a
function by one chain of requests (the Lambda developer guide, "Lambda recursive loop detection"), and botocore
copies the variable into the `X-Amzn-Trace-Id` header of every request the function makes
(`botocore.handlers.add_recursion_detection_header`, when `AWS_LAMBDA_FUNCTION_NAME` is set too), so an Invoke
from inside a function carries the count. The field's text is not documented: it is written here as
`Lineage=<count>:<8 hex digits>:0`, the shape AWS's X-Ray propagator for OpenTelemetry accepts (a loop counter
of 0 to 32767, an 8-hex-digit hash, a request counter of 0 to 255) and headers seen from Lambda show
(`Lineage=1:fe460cdd:0`); the hash names the function, the count its invocations in the chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from .account import REGION
from .assembly import LambdaFunction

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
# What the runtime gives every process: a region and (here, fake) credentials in the environment, and
# nothing from this machine's AWS configuration. The access key id is the function's own (access_key_of).
LAMBDA_BASE_ENVIRONMENT: Mapping[str, str] = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_SECRET_ACCESS_KEY": "offline-secret-access-key",
    "AWS_SESSION_TOKEN": "offline-session-token",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def access_key_of(function_arn: str) -> str:
    """The access key id a function's process signs with: one per function, so that a local endpoint's
    call log says which function (and so which role) made each call."""
    return "ASIA" + hashlib.sha256(function_arn.encode()).hexdigest()[:16].upper()


_LINEAGE = re.compile(r"(?:^|;)\s*Lineage=(\d+):([0-9a-f]{8}):\d+")
_ROOT = re.compile(r"(?:^|;)\s*Root=([^;]+)")


def lineage_hash(function_arn: str) -> str:
    """The hash a function's invocations carry in their Lineage: one per function, whatever its ARN's qualifier."""
    unqualified = ":".join(function_arn.split(":")[:7])
    return hashlib.sha256(unqualified.encode()).hexdigest()[:8]


def trace_header(function_arn: str, count: int = 1, root: str | None = None) -> str:
    """The trace header of an invocation that is the function's `count`-th in its chain (in the trace `root`,
    or a new one)."""
    root = root or f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0;Lineage={count}:{lineage_hash(function_arn)}:0"


def chain_count(header: str | None, function_arn: str) -> tuple[int, str | None]:
    """Which invocation of the function, in its chain, a request with this trace header starts, and the trace's
    root: one more than the Lineage counts if it is the function's own, else the first."""
    lineage = _LINEAGE.search(header or "")
    root = _ROOT.search(header or "")
    count = int(lineage.group(1)) + 1 if lineage and lineage.group(2) == lineage_hash(function_arn) else 1
    return count, root.group(1) if root else None


class InvocationTimeoutError(Exception):
    """The function ran past its timeout; Lambda would have stopped it. `output`: what it printed until then."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Execution:
    """What one invocation printed, how long it took, and the bootstrap's init (a cold start only), invoke and
    memory figures; and, if it failed, the error as Lambda reports it (errorMessage, errorType)."""

    output: str
    stats: dict[str, float]
    seconds: float
    error: dict[str, Any] | None = None
    virtual_seconds: float | None = None  # on a virtual clock: how long the invocation took on it


class _Environment:
    """One execution environment: a `lambda_bootstrap.py` process for one function, which runs the invocations it is
    sent one at a time, each one's output in a file of its own."""

    def __init__(
        self, python: Path, function: LambdaFunction, function_arn: str, environment: Mapping[str, str]
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="offline-lambda-"))
        # -B: /var/task is read-only in Lambda, so no __pycache__ lands in the asset here either.
        command = [str(python), "-I", "-B", str(BOOTSTRAP), str(function.asset_dir), function.handler, function_arn]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(environment), text=True
        )

    def run(
        self, event: Mapping[str, Any], timeout_seconds: int, environment: Mapping[str, str]
    ) -> tuple[dict[str, Any] | None, str]:
        """Runs one invocation: its result (None: the process died) and its output. Waits a little longer than the
        timeout for it (Lambda's runtime ends it on time; a virtual clock's does) before it kills the process."""
        output = self.directory / "output"
        request = {"event": event, "timeout_ms": timeout_seconds * 1000, "environment": environment}
        request["output"] = str(output)
        stdin, stdout = self._pipes()
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        except BrokenPipeError:
            pass  # it died before: its exit status says how
        ready, _, _ = select.select([stdout], [], [], timeout_seconds + 5)
        if not ready:
            printed = output.read_text(errors="replace") if output.exists() else ""
            raise InvocationTimeoutError(f"ran past its {timeout_seconds} s timeout", printed)
        line = stdout.readline()
        printed = output.read_text(errors="replace") if output.exists() else ""
        try:
            return (json.loads(line) if line else None), printed
        except json.JSONDecodeError:
            return None, printed + line

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        return self.process.stdin, self.process.stdout

    def kill(self) -> None:
        """Ends the process (Shutdown), at once: an invocation it was running fails as a crash."""
        if self.process.poll() is None:
            self.process.kill()

    def close(self) -> int:
        """Ends the process and what it leaves; returns its exit status."""
        self.kill()
        returncode = self.process.wait()
        for pipe in self._pipes():
            pipe.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        return returncode


class LambdaRuntime:
    """`python` is the interpreter of an environment that holds boto3 and nothing of ours; `environment`
    is added to every invocation's (endpoint URLs, a CA file), under the function's own variables.
    `timeouts` (seconds, by logical id) shorten a function's timeout, to see what it does near it. With `reuse`
    (the default), idle environments are reused as Lambda reuses them; without, every invocation is a cold start.
    `close` (or the end of `with`) ends every environment."""

    def __init__(
        self,
        python: Path,
        environment: Mapping[str, str],
        timeouts: Mapping[str, int] | None = None,
        reuse: bool = True,
    ) -> None:
        self.python = python
        self.environment = dict(environment)
        self.timeouts = dict(timeouts or {})
        self.reuse = reuse
        self._lock = threading.Lock()
        # What makes one environment differ from another -> its idle environments; and every environment alive.
        self._idle: dict[tuple[Any, ...], list[_Environment]] = {}
        self._alive: set[_Environment] = set()
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Ends every environment, idle or running an invocation (which then fails as a crash; its thread cleans
        up). Invocations after this still run, each in an environment of its own that ends with it."""
        with self._lock:
            self._closed = True
            idle = [environment for environments in self._idle.values() for environment in environments]
            self._idle = {}
            self._alive.difference_update(idle)
            running = list(self._alive)
        for environment in idle:
            environment.close()
        for environment in running:
            environment.kill()

    def invoke(
        self,
        function: LambdaFunction,
        function_arn: str,
        event: Mapping[str, Any],
        environment: Mapping[str, str] | None = None,
    ) -> Execution:
        """Runs one invocation to its end; `environment` is added for this invocation only."""
        static = {
            **LAMBDA_BASE_ENVIRONMENT,
            "AWS_LAMBDA_FUNCTION_NAME": function_arn.rsplit(":", 1)[-1],
            "AWS_ACCESS_KEY_ID": access_key_of(function_arn),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "LAMBDA_TASK_ROOT": str(function.asset_dir),
            **self.environment,
            **function.environment,
        }
        # Set by Lambda for each invocation, under the function's own variables, as before.
        per_invocation = {"_X_AMZN_TRACE_ID": trace_header(function_arn), **(environment or {})}
        per_invocation = {name: value for name, value in per_invocation.items() if name not in function.environment}
        timeout_seconds = self.timeouts.get(function.logical_id, function.timeout_seconds)
        key = (self.python, function.asset_dir, function.handler, function_arn, tuple(sorted(static.items())))
        started = time.perf_counter()
        execution_environment = self._take(key, function, function_arn, static)
        try:
            result, output = execution_environment.run(event, timeout_seconds, per_invocation)
        except InvocationTimeoutError:
            self._discard(execution_environment)
            raise
        if result is None:
            # What Lambda reports when the runtime process dies: a signal (an out-of-memory kill) or an exit.
            returncode = self._discard(execution_environment)
            how = "signal: killed" if returncode == -signal.SIGKILL else f"exit status {returncode}"
            failure = {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited with error: {how}"}
            return Execution(output, {}, time.perf_counter() - started, failure)
        failure = result.pop("error", None)
        virtual_seconds = result.pop("virtual_seconds", None)
        if failure is None:
            self._give_back(key, execution_environment)
        else:
            self._discard(execution_environment)
        return Execution(output, result, time.perf_counter() - started, failure, virtual_seconds)

    def _take(
        self, key: tuple[Any, ...], function: LambdaFunction, function_arn: str, static: Mapping[str, str]
    ) -> _Environment:
        """An idle environment of this function, or a new one (a cold start)."""
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                environment = idle.pop()
                if environment.process.poll() is None:
                    return environment
                self._alive.discard(environment)
                environment.close()
            environment = _Environment(self.python, function, function_arn, static)
            self._alive.add(environment)
            return environment

    def _give_back(self, key: tuple[Any, ...], environment: _Environment) -> None:
        with self._lock:
            if self.reuse and not self._closed:
                self._idle.setdefault(key, []).append(environment)
                return
        self._discard(environment)

    def _discard(self, environment: _Environment) -> int:
        with self._lock:
            self._alive.discard(environment)
        return environment.close()
