"""The backfill worker's Lambda glue: `dataexchange_auto_export_handler.worker.handler`, invoked
asynchronously by the custom resource's handler and by itself, with a `backfill.Cursor` as the event; and by
its `FailedInvocations` rule with Lambda's record of an invocation that failed for good, to report it."""

from __future__ import annotations

import logging
from typing import Any

import boto3

from . import backfill
from .api_model import prefer_bundled_model
from .event_actions import RETRY_CONFIG
from .properties import INVOCATION_FAILED_DETAIL_TYPE

prefer_bundled_model()
# The runtime's root logger stops at WARNING: a line per revision and the summary are INFO.
logging.getLogger(backfill.__name__).setLevel(logging.INFO)
clients = backfill.Clients(
    boto3.client("dataexchange", config=RETRY_CONFIG),
    boto3.client("lambda", config=RETRY_CONFIG),
    boto3.client("events", config=RETRY_CONFIG),
)


def handler(event: dict[str, Any], context: Any) -> str:
    if event.get("detail-type") == INVOCATION_FAILED_DETAIL_TYPE:
        return backfill.report_failed_invocation(clients.events, event["detail"])
    return backfill.Backfill(clients, backfill.Cursor.from_payload(event), context).run()
