"""CloudFormation's side of the custom-resource protocol: an HTTPS server taking the handler's PUT.

A real ResponseURL is a presigned S3 URL, so it is HTTPS and its query string is a credential.
crhelper verifies the certificate with the default SSL context, which honours SSL_CERT_FILE: a
throwaway CA from trustme makes the handler trust this server without any change to crhelper.
"""

from __future__ import annotations

import json
import secrets
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trustme

# CloudFormation rejects a response body larger than this.
MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class ReceivedResponse:
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


class ResponseServer:
    """Serves one presigned-looking URL per request and keeps what the handler PUTs to it."""

    def __init__(self) -> None:
        # The certificate is issued for the loopback address the handler is given.
        self._ca = trustme.CA()
        self._directory = tempfile.TemporaryDirectory(prefix="offline-cfn-")
        self.ca_file = Path(self._directory.name) / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self._responses: dict[str, list[ReceivedResponse]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ResponseServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._directory.cleanup()

    def new_url(self, request_id: str) -> tuple[str, str]:
        """A fresh ResponseURL for one request, and its signature (which must never be logged)."""
        signature = secrets.token_hex(32)
        port = self._server.server_address[1]
        url = (
            f"https://127.0.0.1:{port}/cloudformation-responses/{request_id}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature={signature}"
        )
        return url, signature

    def responses_for(self, request_id: str) -> list[ReceivedResponse]:
        """Every PUT to this request's URL, oldest first (a duplicate delivery answers again)."""
        with self._lock:
            return list(self._responses.get(request_id, []))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                request_id = urlsplit(self.path).path.rsplit("/", 1)[-1]
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server._lock:
                    server._responses.setdefault(request_id, []).append(ReceivedResponse(raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the request line carries the ResponseURL's signature."""

        return Handler
