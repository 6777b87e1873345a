"""An HTTP server for a table of operations over one botocore service model, with faults and a call log."""

from __future__ import annotations

import re
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config

from ..account import REGION
from .faults import Fault, Faults
from .protocol import (
    Authorization,
    HttpRequest,
    Operation,
    Request,
    Response,
    Router,
    ServiceError,
    error_response,
    read_input,
    service_model,
    success_response,
)

_UNKNOWN_OPERATION = "UnknownOperation"
# The answer to a call whose connection is dropped without one: no status, nothing written.
DROPPED = Response(0)
_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")


@dataclass(frozen=True)
class Call:
    """One request as the endpoint saw it: the operation, the HTTP status answered (0: the connection was
    dropped without an answer), the caller's access key id, and what IAM would have had to allow the
    caller (the permission audit reads these)."""

    operation: str
    status: int
    caller: str = ""
    authorizations: tuple[Authorization, ...] = ()


# Whom IAM denies what: the caller's access key id and what the call needs authorizing in, the refusal's message out
# (None: allowed).
Authorizer = Callable[[str, Authorization], str | None]


class LocalEndpoint:
    """Serves `operations` (operation name -> function) the way the service's REST-JSON API does.

    Operations run one at a time under `self.lock`, so they may read and change shared state freely. With an
    `iam` authorizer, every authorization a call needs is decided when the operation asks for it, and a denied
    one is answered with the service's AccessDenied error, before the work (by default it is only recorded).
    """

    # How the service names IAM's refusal (Data Exchange, Lambda and EventBridge; CloudFormation says AccessDenied).
    ACCESS_DENIED = "AccessDeniedException"

    def __init__(self, service_name: str, operations: Mapping[str, Operation]) -> None:
        self.model = service_model(service_name)
        self.lock = threading.RLock()
        self._operations = dict(operations)
        self._router = Router(self.model, self._operations)
        self._faults = Faults(self.model, self._operations)
        self._calls: list[Call] = []
        self.iam: Authorizer | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("The endpoint is already running")
        self._server = _Server((host, port), self)
        # A short poll interval, because stop() waits for the serving loop to notice the shutdown.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The endpoint is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def inject(self, operation: str, fault: Fault) -> None:
        self._faults.inject(operation, fault)

    @property
    def calls(self) -> list[Call]:
        with self.lock:
            return list(self._calls)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answers one HTTP request; separate from the HTTP server so the logic has no socket in it."""
        request_id = str(uuid.uuid4())
        url = urlsplit(target)
        http = HttpRequest(method, url.path, parse_qs(url.query, keep_blank_values=True), headers, body)
        routed = self._router.match(http)
        name = routed[0].name if routed else _UNKNOWN_OPERATION
        request = Request(
            *_credential_scope(headers.get("authorization")),
            enforce=self._enforce if self.iam else None,
            trace_header=headers.get("x-amzn-trace-id"),
        )
        failure: Fault | None = None
        try:
            if routed is None:
                raise ServiceError("UnknownOperationException", f"No operation for {method} {url.path}")
            operation, labels = routed
            failure = self._faults.apply(name)
            if failure is not None and not failure.after_the_work:
                raise failure.error(name, self.model)
            params = read_input(operation, labels, http)
            # Serialised under the lock too: the output may be stored state that another request changes.
            with self.lock:
                response = success_response(operation, self._operations[name](params, request), request_id)
        except ServiceError as error:
            response = error_response(self.model, error, request_id)
        except Exception as error:
            # A bug here must reach the test as a failure with a cause, not as a dropped connection.
            bug = ServiceError("InternalServerException", f"{type(error).__name__}: {error}")
            response = error_response(self.model, bug, request_id)
        if failure is not None and failure.after_the_work:
            # The work is done (or refused): only its answer is lost.
            lost = error_response(self.model, failure.error(name, self.model), request_id)
            response = DROPPED if failure.drop_connection else lost
        with self.lock:
            self._calls.append(Call(name, response.status, request.caller, tuple(request.authorizations)))
        return response

    def _enforce(self, caller: str, authorization: Authorization) -> None:
        denial = self.iam(caller, authorization) if self.iam else None
        if denial is not None:
            raise ServiceError(self.ACCESS_DENIED, denial)


def client(service_name: str, url: str, *, region: str = REGION, config: Config | None = None) -> Any:
    """An unmodified boto3 client for a local endpoint, with throwaway credentials (access key `testing`)."""
    return boto3.client(
        service_name,  # type: ignore[call-overload]  # boto3-stubs types each service's name as a Literal
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def _credential_scope(authorization: str | None) -> tuple[str, str]:
    """The Region and access key id of a SigV4 Authorization header's credential, as the service reads them."""
    match = _CREDENTIAL_SCOPE.search(authorization or "")
    return (match.group(2), match.group(1)) if match else (REGION, "")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up waiting (a read timeout) has closed its socket: nothing went wrong here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as urllib3 expects from AWS; every response carries a Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, delayed ACKs add ~40 ms to every call.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.endpoint.handle(self.command, self.path, headers, body)
        if response is DROPPED:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        # The call log is the record; per-request lines on stderr would drown test and CLI output.
        return
