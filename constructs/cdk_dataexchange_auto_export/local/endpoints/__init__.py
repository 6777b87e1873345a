"""Local AWS endpoints that unmodified boto3 clients can call: today, AWS Data Exchange.

Point a client at one with ``endpoint_url=`` or ``AWS_ENDPOINT_URL_DATAEXCHANGE=http://127.0.0.1:PORT``.
`protocol` speaks the REST-JSON protocol from botocore's own service model and `server` serves a
table of operations over HTTP with a call log; `faults` injects failures; `dataexchange` holds the
Data Exchange state and operations, and `dataexchange_rules` what that service enforces beyond
botocore's model.
"""

from .dataexchange import DataExchangeEndpoint, local_client
from .faults import Fault
from .server import Call

__all__ = ["Call", "DataExchangeEndpoint", "Fault", "local_client"]
