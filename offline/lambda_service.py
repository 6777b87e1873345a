"""Lambda's Invoke API, offline: a function of a deployed stack runs in the Lambda-like runtime, now
(RequestResponse) or on a thread of its own while the caller goes on (Event, an asynchronous invoke:
answered 202 at once, as Lambda queues it). Only Invoke is served; `wait` lets a caller see the
asynchronous invocations through, those they start included.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .assembly import LambdaFunction
from .endpoints.protocol import Operation, Request, ServiceError
from .endpoints.server import LocalEndpoint
from .lambda_runtime import Execution, InvocationTimeoutError, LambdaRuntime

# A function's ARN or name -> the function and its ARN (the CloudFormation player knows them).
Resolver = Callable[[str], tuple[LambdaFunction, str] | None]


@dataclass(frozen=True)
class AsyncInvocation:
    function_arn: str
    payload: dict[str, Any]
    execution: Execution | None  # None: it ran past its timeout
    error: str | None = None


class LocalLambda(LocalEndpoint):
    def __init__(self) -> None:
        operations: dict[str, Operation] = {"Invoke": self._invoke}
        super().__init__("lambda", operations)
        # Stack name -> its functions: a runner made again for a stack replaces the one before it.
        self._stacks: dict[str, tuple[Resolver, LambdaRuntime]] = {}
        self._threads: list[threading.Thread] = []
        self.invocations: list[AsyncInvocation] = []

    def serve(self, resolver: Resolver, runtime: LambdaRuntime, stack_name: str = "") -> None:
        """Makes the functions `resolver` knows invocable, each run by `runtime`, in place of those
        served for the stack before."""
        with self.lock:
            self._stacks[stack_name] = (resolver, runtime)

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

    def _function(self, name: str) -> tuple[LambdaFunction, str, LambdaRuntime]:
        for resolver, runtime in self._stacks.values():
            found = resolver(name)
            if found is not None:
                return (*found, runtime)
        raise ServiceError("ResourceNotFoundException", f"Function not found: {name}", Type="User")

    def _invoke(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        function, arn, runtime = self._function(params["FunctionName"])
        request.authorize("lambda:InvokeFunction", arn)
        payload = json.loads(params.get("Payload") or b"{}")
        if params.get("InvocationType", "RequestResponse") == "Event":
            thread = threading.Thread(target=self._run, args=(runtime, function, arn, payload), daemon=True)
            self._threads.append(thread)
            thread.start()
            return {"StatusCode": 202}
        raise ServiceError("InvalidParameterValueException", "Only InvocationType=Event is served offline")

    def _run(self, runtime: LambdaRuntime, function: LambdaFunction, arn: str, payload: dict[str, Any]) -> None:
        try:
            invocation = AsyncInvocation(arn, payload, runtime.invoke(function, arn, payload))
        except InvocationTimeoutError as error:
            invocation = AsyncInvocation(arn, payload, None, str(error))
        with self.lock:
            self.invocations.append(invocation)
