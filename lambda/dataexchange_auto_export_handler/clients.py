"""The AWS clients the handler and the worker call, with the retries they are sized for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dataexchange import DataExchangeClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient

# Sized to the handler's 60 s timeout. total_max_attempts counts the first call too: 6 attempts, 5 waits.
# Standard mode waits a random share of min(base * 2**i, 20 s), with base 1 s for throttling (at most
# 1+2+4+8+16 = 31 s in all, so a burst of throttling is ridden out) and 50 ms for 5xx and other
# transient errors (at most 1.55 s in all), so a persistent failure is reported well before the timeout.
RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 6},
    connect_timeout=5,
    read_timeout=15,
)


class Clients:
    """The clients of one process: those given, or each made on first use with RETRY_CONFIG (a client costs
    cold-start time, and most requests need Data Exchange's alone)."""

    def __init__(
        self,
        dataexchange: DataExchangeClient | None = None,
        lambda_: LambdaClient | None = None,
        events: EventBridgeClient | None = None,
        cloudformation: CloudFormationClient | None = None,
    ) -> None:
        given = {"dataexchange": dataexchange, "lambda": lambda_, "events": events, "cloudformation": cloudformation}
        self._clients: dict[str, Any] = {name: client for name, client in given.items() if client is not None}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, config=RETRY_CONFIG)  # type: ignore[call-overload]
        return self._clients[service]

    @property
    def dataexchange(self) -> DataExchangeClient:
        return cast("DataExchangeClient", self._client("dataexchange"))

    @property
    def lambda_(self) -> LambdaClient:
        return cast("LambdaClient", self._client("lambda"))

    @property
    def events(self) -> EventBridgeClient:
        return cast("EventBridgeClient", self._client("events"))

    @property
    def cloudformation(self) -> CloudFormationClient:
        return cast("CloudFormationClient", self._client("cloudformation"))
