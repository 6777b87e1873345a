"""Invokes a function from its staged asset the way the Lambda Python runtime would: a fresh process per
invocation whose interpreter holds only boto3 (`python -I`: no PYTHONPATH, no user site), with the asset
first on `sys.path`, Lambda's environment variables and a context object (`lambda_bootstrap.py`).

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
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
    """The function ran past its timeout; Lambda would have stopped it."""


@dataclass(frozen=True)
class Execution:
    """What one invocation printed, how long it took, and the bootstrap's init/invoke/memory figures; and,
    if it failed, the error as Lambda reports it (errorMessage, errorType)."""

    output: str
    stats: dict[str, float]
    seconds: float
    error: dict[str, Any] | None = None
    virtual_seconds: float | None = None  # on a virtual clock: how long the invocation took on it


class LambdaRuntime:
    """`python` is the interpreter of an environment that holds boto3 and nothing of ours; `environment`
    is added to every invocation's (endpoint URLs, a CA file), under the function's own variables.
    `timeouts` (seconds, by logical id) shorten a function's timeout, to see what it does near it."""

    def __init__(self, python: Path, environment: Mapping[str, str], timeouts: Mapping[str, int] | None = None) -> None:
        self.python = python
        self.environment = dict(environment)
        self.timeouts = dict(timeouts or {})

    def invoke(
        self,
        function: LambdaFunction,
        function_arn: str,
        event: Mapping[str, Any],
        environment: Mapping[str, str] | None = None,
    ) -> Execution:
        """Runs one invocation to its end; `environment` is added for this invocation only."""
        environment = {
            **LAMBDA_BASE_ENVIRONMENT,
            "_X_AMZN_TRACE_ID": trace_header(function_arn),
            "AWS_LAMBDA_FUNCTION_NAME": function_arn.rsplit(":", 1)[-1],
            "AWS_ACCESS_KEY_ID": access_key_of(function_arn),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "LAMBDA_TASK_ROOT": str(function.asset_dir),
            **self.environment,
            **(environment or {}),
            **function.environment,
        }
        function = replace(function, timeout_seconds=self.timeouts.get(function.logical_id, function.timeout_seconds))
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="offline-lambda-") as directory:
            stats_file = Path(directory) / "stats.json"
            stats_file.touch()
            # -B: /var/task is read-only in Lambda, so no __pycache__ lands in the asset here either.
            command = [str(self.python), "-I", "-B", str(BOOTSTRAP), str(function.asset_dir), function.handler]
            command += [str(function.timeout_seconds * 1000), str(stats_file), function_arn]
            try:
                result = subprocess.run(
                    command,
                    input=json.dumps(event),
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=function.timeout_seconds + 5,
                    check=False,
                )
            except subprocess.TimeoutExpired as error:
                raise InvocationTimeoutError(f"ran past its {function.timeout_seconds} s timeout") from error
            stats = json.loads(stats_file.read_text()) if stats_file.stat().st_size else {}
        failure: dict[str, Any] | None = stats.pop("error", None)
        virtual_seconds = stats.pop("virtual_seconds", None)
        if failure is None and result.returncode != 0:
            # What Lambda reports when the runtime process dies: a signal (an out-of-memory kill) or an exit.
            how = "signal: killed" if result.returncode == -signal.SIGKILL else f"exit status {result.returncode}"
            failure = {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited with error: {how}"}
        output = result.stdout + result.stderr
        return Execution(output, stats, time.perf_counter() - started, failure, virtual_seconds)
