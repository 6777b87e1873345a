"""The offline account's services, together: Data Exchange, Lambda's Invoke, EventBridge's default bus and
CloudFormation's read API, served on loopback while a `with` block runs, and how a Lambda-like process reaches them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .assembly import SynthesizedStack
from .cloudformation import OfflineCloudFormation
from .cloudformation_api import LocalCloudFormation
from .endpoints import DataExchangeEndpoint
from .endpoints.server import LocalEndpoint
from .eventbridge import LocalEventBridge, LocalEventBus, envelope
from .iam import LocalIam
from .lambda_bootstrap import VIRTUAL_CLOCK, VirtualClock
from .lambda_runtime import LambdaRuntime
from .lambda_service import LocalLambda

# The backfill worker waits this long between job polls at first; the local jobs run in ticks, not minutes.
OFFLINE_POLL_SECONDS = "0.02"
# Data Exchange's state in a state directory, which commands that start no service read too, and where its exports
# write objects (S3_DIR/BUCKET/KEY).
DATAEXCHANGE_STATE_FILE = "dataexchange.json"
S3_DIR = "s3"


class OfflineAws:
    """With `iam`, IAM decides every call a function makes when it is made (the role's policies as deployed, with
    the delay a change takes to be seen); without, calls are only recorded, for the permission audit. `clock`, when
    given, is the virtual clock the functions run on (`lambda_bootstrap`); a Data Exchange endpoint given too should
    run its jobs on it (`job_seconds`, `clock=clock.now`)."""

    def __init__(
        self,
        dataexchange: DataExchangeEndpoint | None = None,
        state_dir: Path | None = None,
        iam: LocalIam | None = None,
        clock: VirtualClock | None = None,
    ) -> None:
        self.iam = iam
        self.clock = clock
        self.bus = LocalEventBus()
        self.dataexchange = dataexchange or DataExchangeEndpoint(
            state_file=state_dir / DATAEXCHANGE_STATE_FILE if state_dir else None,
            s3_root=state_dir / S3_DIR if state_dir else None,
        )
        self.dataexchange.events = self.bus.put
        self.lambda_ = LocalLambda()
        self.eventbridge = LocalEventBridge(self.bus)
        self.cloudformation_api = LocalCloudFormation()
        # What connects them: rules invoke functions, and records of failed invocations reach their destination.
        self.bus.invoke = self.lambda_.invoke_async
        self.lambda_.destinations = self._deliver_failure
        if iam is not None:
            for endpoint in self.endpoints:
                endpoint.iam = iam.authorizer

    def __enter__(self) -> Self:
        for endpoint in self.endpoints:
            if endpoint.running:
                continue
            endpoint.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            for endpoint in reversed(self.endpoints):
                endpoint.stop()
        finally:
            # The functions' execution environments end with the account: no process outlives the `with` block.
            self.lambda_.close_runtimes()

    @property
    def endpoints(self) -> tuple[LocalEndpoint, ...]:
        """Every service a function may call, in the order they start."""
        return (self.dataexchange, self.lambda_, self.eventbridge, self.cloudformation_api)

    def _deliver_failure(self, destination: str, record: dict[str, Any]) -> None:
        """An on-failure destination: an event bus gets the record as Lambda's EventBridge destination sends it
        (the Lambda developer guide's detail-type, written here, not taken from the handler), a function is
        invoked with it."""
        if ":event-bus/" in destination:
            function = record["requestContext"]["functionArn"]
            self.bus.put(
                envelope("lambda", "Lambda Function Invocation Result - Failure", record, [destination, function])
            )
        elif ":function:" in destination:
            self.lambda_.invoke_async(destination, record)
        else:
            raise ValueError(f"On-failure destination {destination} is not served offline")

    def environment(self) -> dict[str, str]:
        """What a Lambda-like process needs to reach these services instead of AWS."""
        endpoints = {
            "AWS_ENDPOINT_URL_DATAEXCHANGE": self.dataexchange.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_.url,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.eventbridge.url,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": self.cloudformation_api.url,
        }
        # On a virtual clock, time is what the functions' sleeps make it: they wait as long as in AWS.
        pace = {VIRTUAL_CLOCK: self.clock.path} if self.clock else {"BACKFILL_POLL_SECONDS": OFFLINE_POLL_SECONDS}
        return {**endpoints, **pace}

    def runtime(self, python: Path, timeouts: Mapping[str, int] | None = None, reuse: bool = True) -> LambdaRuntime:
        return LambdaRuntime(python, self.environment(), timeouts, reuse)

    def cloudformation(
        self,
        stack: SynthesizedStack,
        state_file: Path,
        runtime: LambdaRuntime,
        parameters: Mapping[str, str] | None = None,
    ) -> OfflineCloudFormation:
        """CloudFormation for the stack, whose functions Lambda can invoke and whose rules the bus has (in
        place of those of a runner made for the stack before)."""
        cloudformation = OfflineCloudFormation(stack, state_file, runtime, parameters)
        if self.iam is not None:
            cloudformation.on_policies = self.iam.deployed
        self.lambda_.serve(cloudformation.lambda_function, runtime, stack.stack_name)
        self.bus.serve(cloudformation)
        self.cloudformation_api.serve(cloudformation)
        return cloudformation
