"""`python -m cdk_dataexchange_auto_export.local.endpoints --port 0 --state FILE`: prints the URL and serves until
interrupted."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from ..account import ACCOUNT
from .dataexchange import DataExchangeEndpoint


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cdk_dataexchange_auto_export.local.endpoints",
        description="Serve a local AWS Data Exchange endpoint for boto3 and the AWS CLI.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--state", type=Path, help="JSON file that keeps the endpoint's state between runs")
    parser.add_argument("--account", default=ACCOUNT, help="account id used in ARNs")
    args = parser.parse_args(argv)
    endpoint = DataExchangeEndpoint(state_file=args.state, account=args.account)
    # SIGTERM too, so a supervising process (or a test) stops it cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    print(endpoint.start(args.host, args.port), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
