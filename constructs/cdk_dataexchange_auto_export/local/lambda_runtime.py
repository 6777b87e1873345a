"""Invokes a function from its staged asset the way the Lambda Python runtime would: a fresh process per
invocation whose interpreter holds only boto3 (`python -I`: no PYTHONPATH, no user site), with the asset
first on `sys.path`, Lambda's environment variables and a context object (`lambda_bootstrap.py`)."""

from __future__ import annotations

import hashlib
import json
import os
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
        if failure is None and result.returncode != 0:
            # What Lambda reports when the runtime process dies: a signal (an out-of-memory kill) or an exit.
            how = "signal: killed" if result.returncode == -signal.SIGKILL else f"exit status {result.returncode}"
            failure = {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited with error: {how}"}
        return Execution(result.stdout + result.stderr, stats, time.perf_counter() - started, failure)
