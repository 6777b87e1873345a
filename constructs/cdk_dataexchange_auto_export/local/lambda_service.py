"""Lambda's Invoke API, offline: a function of a deployed stack runs in the Lambda-like runtime on a thread of
its own while the caller goes on (Event, an asynchronous invoke: answered 202 at once, as Lambda queues it).
Only asynchronous invocations are served, from Invoke and from EventBridge rules alike.

As the Lambda developer guide's "asynchronous invocation" pages describe: an invocation that fails (an
unhandled error, a timeout, the process killed) is retried as often as the function's event invoke config
says (twice by default, at once here rather than after a minute or two), and the record of one that failed
every attempt goes to its on-failure destination. `crash_next` kills the next invocations of a function as
an out-of-memory kill would. `wait` lets a caller see the asynchronous invocations through, those they start
included.

Recursive loop detection, as the Lambda developer guide's "Lambda recursive loop detection" describes it: an
Invoke carries the caller's trace header (`lambda_runtime`: botocore copies the `_X_AMZN_TRACE_ID` Lambda
sets into every request a function makes), whose Lineage counts the function's invocations in the chain;
Lambda stops an invocation that would be the function's 17th in its chain ("more than 16 times") unless the
function's `RecursiveLoop` is `Allow`, and an asynchronous one's event goes to the on-failure destination.
Invocations from EventBridge rules start a chain of their own (the guide does not list EventBridge among
the services whose chains it follows). The record's `condition` for a stopped event is undocumented:
`RecursiveInvocationException` here, Lambda's error for a synchronous caller.

Lambda may deliver an asynchronous event more than once (the guide, "How Lambda handles errors and retries
with asynchronous invocation"): `deliver_twice` makes the next invocation of a function run twice, the copy
once the first delivery has ended, as a duplicate that arrives late.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .assembly import LambdaFunction
from .endpoints.protocol import Operation, Request, ServiceError
from .endpoints.server import LocalEndpoint
from .lambda_bootstrap import CRASH
from .lambda_runtime import Execution, InvocationTimeoutError, LambdaRuntime, chain_count, trace_header

# A function's ARN or name -> the function and its ARN (the CloudFormation player knows them).
Resolver = Callable[[str], tuple[LambdaFunction, str] | None]
# Where the record of an invocation that failed for good goes: (destination ARN, record).
DestinationSink = Callable[[str, dict[str, Any]], None]
# Lambda stops the invocation that would be a function's next after this many in one chain.
RECURSION_LIMIT = 16
RECURSION_STOPPED = "RecursiveInvocationException"


@dataclass(frozen=True)
class AsyncInvocation:
    """One attempt at an asynchronous invocation."""

    function_arn: str
    payload: dict[str, Any]
    execution: Execution | None  # None: it ran past its timeout, or Lambda stopped it before it ran
    error: str | None = None  # why the attempt failed, as Lambda reports it
    attempt: int = 1  # 0: stopped as a recursive loop, never attempted
    chain_count: int = 1  # which invocation of the function in its chain of requests (its Lineage)


def failure_record(
    function_arn: str,
    payload: Mapping[str, Any],
    error: Mapping[str, Any],
    attempts: int,
    condition: str = "RetriesExhausted",
) -> dict[str, Any]:
    """The invocation record Lambda sends an on-failure destination ("Capturing records of Lambda asynchronous
    invocations"): the request and the last attempt's error."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": dict(payload),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": dict(error),
    }


class LocalLambda(LocalEndpoint):
    def __init__(self) -> None:
        operations: dict[str, Operation] = {"Invoke": self._invoke}
        super().__init__("lambda", operations)
        # Stack name -> its functions: a runner made again for a stack replaces the one before it.
        self._stacks: dict[str, tuple[Resolver, LambdaRuntime]] = {}
        self._runtimes: list[LambdaRuntime] = []  # every runtime served, whose environments end with this service
        self._threads: list[threading.Thread] = []
        self._crashes: dict[str, int] = {}  # logical id -> invocations still to kill
        self._duplicates: dict[str, int] = {}  # logical id -> invocations still to deliver twice
        self.invocations: list[AsyncInvocation] = []
        self.destinations: DestinationSink | None = None

    def serve(self, resolver: Resolver, runtime: LambdaRuntime, stack_name: str = "") -> None:
        """Makes the functions `resolver` knows invocable, each run by `runtime`, in place of those
        served for the stack before."""
        with self.lock:
            self._stacks[stack_name] = (resolver, runtime)
            if all(served is not runtime for served in self._runtimes):
                self._runtimes.append(runtime)

    def close_runtimes(self) -> None:
        """Ends the execution environments of every runtime served so far (those replaced since too)."""
        with self.lock:
            runtimes, self._runtimes = self._runtimes, []
        for runtime in runtimes:
            runtime.close()

    def crash_next(self, logical_id: str, count: int = 1) -> None:
        """The next `count` invocations of the function are killed once its handler is loaded."""
        with self.lock:
            self._crashes[logical_id] = self._crashes.get(logical_id, 0) + count

    def deliver_twice(self, logical_id: str, count: int = 1) -> None:
        """The next `count` asynchronous invocations of the function are each delivered twice."""
        with self.lock:
            self._duplicates[logical_id] = self._duplicates.get(logical_id, 0) + count

    def wait(self, timeout: float = 300) -> list[AsyncInvocation]:
        """Waits until no asynchronous invocation is running (those they started too); returns them all."""
        while True:
            with self.lock:
                running = [thread for thread in self._threads if thread.is_alive()]
            if not running:
                with self.lock:
                    return list(self.invocations)
            for thread in running:
                thread.join(timeout)
                if thread.is_alive():
                    raise TimeoutError(f"an asynchronous invocation is still running after {timeout} s")

    def invoke_async(self, name: str, payload: dict[str, Any], trace: str | None = None) -> None:
        """Queues an invocation of the function with this name or ARN, as Lambda does for an Event invoke; `trace`
        is the caller's trace header, whose Lineage says which invocation of the function in its chain this is."""
        function, arn, runtime = self._function(name)
        count, root = chain_count(trace, arn)
        if count > RECURSION_LIMIT and function.recursive_loop != "Allow":
            self._stop_recursion(function, arn, payload, count)
            return
        with self.lock:
            twice = self._duplicates.get(function.logical_id, 0) > 0
            if twice:
                self._duplicates[function.logical_id] -= 1
        header = trace_header(arn, count, root)
        thread = threading.Thread(
            target=self._deliver, args=(runtime, function, arn, payload, header, count, twice), daemon=True
        )
        with self.lock:
            self._threads.append(thread)
        thread.start()

    def _stop_recursion(self, function: LambdaFunction, arn: str, payload: dict[str, Any], count: int) -> None:
        message = f"Lambda stopped invocation {count} of {arn} in a chain of requests: a recursive loop"
        with self.lock:
            self.invocations.append(AsyncInvocation(arn, payload, None, message, 0, count))
        if function.on_failure and self.destinations is not None:
            error = {"errorType": RECURSION_STOPPED, "errorMessage": message}
            self.destinations(str(function.on_failure), failure_record(arn, payload, error, 0, RECURSION_STOPPED))

    def _function(self, name: str) -> tuple[LambdaFunction, str, LambdaRuntime]:
        for resolver, runtime in self._stacks.values():
            found = resolver(name)
            if found is not None:
                return (*found, runtime)
        raise ServiceError("ResourceNotFoundException", f"Function not found: {name}", Type="User")

    def _invoke(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        if params.get("InvocationType", "RequestResponse") != "Event":
            raise ServiceError("InvalidParameterValueException", "Only InvocationType=Event is served offline")
        _, arn, _ = self._function(params["FunctionName"])
        request.authorize("lambda:InvokeFunction", arn)
        self.invoke_async(arn, json.loads(params.get("Payload") or b"{}"), request.trace_header)
        return {"StatusCode": 202}

    def _crashes_now(self, function: LambdaFunction) -> bool:
        with self.lock:
            left = self._crashes.get(function.logical_id, 0)
            if left:
                self._crashes[function.logical_id] = left - 1
            return bool(left)

    def _deliver(
        self,
        runtime: LambdaRuntime,
        function: LambdaFunction,
        arn: str,
        payload: dict[str, Any],
        trace: str,
        count: int,
        twice: bool,
    ) -> None:
        for _ in range(2 if twice else 1):
            self._run(runtime, function, arn, payload, trace, count)

    def _run(
        self,
        runtime: LambdaRuntime,
        function: LambdaFunction,
        arn: str,
        payload: dict[str, Any],
        trace: str,
        count: int,
    ) -> None:
        attempts = 1 + function.retry_attempts
        error: dict[str, Any] = {}
        for attempt in range(1, attempts + 1):
            environment = {"_X_AMZN_TRACE_ID": trace, **({CRASH: "1"} if self._crashes_now(function) else {})}
            execution: Execution | None
            try:
                execution = runtime.invoke(function, arn, payload, environment)
                failed = execution.error
            except InvocationTimeoutError:
                execution = None
                failed = {"errorMessage": f"Task timed out after {function.timeout_seconds:.2f} seconds"}
            with self.lock:
                self.invocations.append(
                    AsyncInvocation(arn, payload, execution, failed["errorMessage"] if failed else None, attempt, count)
                )
            if failed is None:
                return
            error = failed
        if function.on_failure and self.destinations is not None:
            self.destinations(str(function.on_failure), failure_record(arn, payload, error, attempts))
