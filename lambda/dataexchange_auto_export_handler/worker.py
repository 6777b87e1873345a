"""The backfill worker's entry point, `dataexchange_auto_export_handler.worker.handler`: invoked asynchronously by
the custom resource's handler and by itself, with a `Cursor` as the event; and by its
`FailedInvocations` rule with Lambda's record of an invocation that failed for good, to report it."""

from __future__ import annotations

import logging
from typing import Any

from . import backfill
from .api_model import prefer_bundled_model
from .backfill_chain import Cursor
from .clients import Clients
from .contract import INVOCATION_FAILED_DETAIL_TYPE

prefer_bundled_model()
# The runtime's root logger stops at WARNING: a line per revision and the summary are INFO.
logging.getLogger(backfill.__name__).setLevel(logging.INFO)
clients = Clients()


def handler(event: dict[str, Any], context: Any) -> str:
    if event.get("detail-type") == INVOCATION_FAILED_DETAIL_TYPE:
        return backfill.report_failed_invocation(clients.events, event["detail"])
    return backfill.Backfill(clients, Cursor.from_payload(event), context).run()
