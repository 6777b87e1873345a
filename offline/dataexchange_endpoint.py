"""A local AWS Data Exchange event-action endpoint that an unmodified boto3 client can call.

Point a client at it with ``endpoint_url=`` or ``AWS_ENDPOINT_URL_DATAEXCHANGE=http://127.0.0.1:PORT``.
Routes, parameter locations and shapes come from botocore's own service model, so requests are read
exactly as boto3 serialises them and answers are parsed exactly as boto3 expects. The rules the service
enforces but botocore does not (id formats, encryption, key patterns, quotas) are added on top.

Command line: ``python -m offline.dataexchange_endpoint --port 0 --state FILE`` prints the URL and
serves until interrupted.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import functools
import json
import re
import signal
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Self, get_args
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import botocore.session
from botocore.config import Config
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StringShape, StructureShape

from dataexchange_auto_export_handler.properties import (
    ID_PATTERN,
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_TAGS_PER_RESOURCE,
    PropertyError,
    check_key_pattern,
)

from .files import write_atomically

if TYPE_CHECKING:
    from mypy_boto3_dataexchange import DataExchangeClient

OPERATIONS = (
    "CreateEventAction",
    "GetEventAction",
    "UpdateEventAction",
    "DeleteEventAction",
    "ListEventActions",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)
WILDCARD = "*"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

# The service's default quotas (both adjustable in a real account).
EVENT_ACTIONS_PER_DATA_SET = 5
EVENT_ACTIONS_PER_ACCOUNT = 50
# The service's default page size is undocumented; any value in the model's 1..200 keeps clients honest.
DEFAULT_MAX_RESULTS = 50
# Ids are checked with the handler's anchored ID_PATTERN: the model's Id pattern is unanchored and path
# ids have no pattern at all, but the service anchors it.
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/")
_URI_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")
_UNKNOWN_OPERATION = "UnknownOperation"

FaultKind = Literal["throttle", "internal", "access_denied", "validation", "latency"]

# Each error fault answers as the modeled exception boto3 maps to its own class.
_FAULT_ERRORS: dict[str, tuple[str, str]] = {
    "throttle": ("ThrottlingException", "Rate exceeded (injected)"),
    "internal": ("InternalServerException", "Internal server error (injected)"),
    "access_denied": ("AccessDeniedException", "User is not authorized to perform {operation} (injected)"),
    "validation": ("ValidationException", "Request rejected by the service (injected)"),
}


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("dataexchange")


@dataclass(frozen=True)
class Fault:
    """A failure or delay to inject into the next ``count`` calls of an operation."""

    kind: FaultKind
    count: int = 1
    exception_cause: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # Fail at inject() time: a typo would otherwise make a test pass without any fault happening.
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"Unknown fault kind {self.kind!r}: expected one of {', '.join(get_args(FaultKind))}")
        if self.count < 1:
            raise ValueError(f"Fault count must be at least 1, got {self.count}")
        if self.seconds < 0:
            raise ValueError(f"Fault seconds must not be negative, got {self.seconds}")
        if self.exception_cause is not None:
            if self.kind != "validation":
                raise ValueError("exception_cause only applies to a 'validation' fault")
            causes = _enum_of("ValidationException", "ExceptionCause")
            if self.exception_cause not in causes:
                raise ValueError(f"Unknown ExceptionCause {self.exception_cause!r}: expected one of {causes}")


@dataclass(frozen=True)
class Call:
    operation: str
    status: int


@dataclass
class _PendingFault:
    fault: Fault
    remaining: int


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern[str]
    operation: OperationModel


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _ServiceError(Exception):
    """An error answered the way the service does: the code names a modeled error shape."""

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members


def _validation_error(message: str) -> _ServiceError:
    return _ServiceError("ValidationException", message)


def _enum_of(shape_name: str, member: str) -> list[str]:
    error_shape = service_model().shape_for(shape_name)
    shape = error_shape.members.get(member) if isinstance(error_shape, StructureShape) else None
    return list(shape.enum) if isinstance(shape, StringShape) else []


@functools.cache
def _routes() -> tuple[_Route, ...]:
    routes = []
    for name in OPERATIONS:
        operation = service_model().operation_model(name)
        template = operation.http["requestUri"].split("?", 1)[0]
        pattern, position = "", 0
        for label in _URI_LABEL.finditer(template):
            pattern += re.escape(template[position : label.start()])
            # A greedy label ({Key+}) keeps its slashes; a plain one arrives with '/' encoded as %2F.
            pattern += f"(?P<{label.group(1)}>{'.+' if label.group(2) else '[^/]+'})"
            position = label.end()
        pattern += re.escape(template[position:])
        routes.append(_Route(operation.http["method"], re.compile(f"^{pattern}$"), operation))
    return tuple(routes)


def _match_route(method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
    for route in _routes():
        match = route.path.match(path)
        if match and route.method == method:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return None


def _from_text(shape: Shape, text: str, path: str) -> Any:
    """A querystring, header or path value, typed as the model says."""
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise _validation_error(f"{path}: {text!r} is not an integer") from None
    if shape.type_name == "boolean":
        if text not in ("true", "false"):
            raise _validation_error(f"{path}: {text!r} is not a boolean")
        return text == "true"
    return text


def _from_wire(shape: Shape, value: Any) -> Any:
    """JSON body value -> parameters keyed by member name; wrong types pass through for _check to name."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = {}
        for name, member in shape.members.items():
            wire_name = member.serialization.get("name", name)
            if wire_name in value:
                members[name] = _from_wire(member, value[wire_name])
        return members
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_from_wire(shape.member, item) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: _from_wire(shape.value, item) for key, item in value.items()}
    return value


def _format_timestamp(value: str, timestamp_format: str) -> str | float:
    moment = datetime.fromisoformat(value)
    if timestamp_format == "iso8601":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if timestamp_format == "rfc822":
        return format_datetime(moment, usegmt=True)
    return moment.timestamp()


def _to_wire(shape: Shape, value: Any) -> Any:
    """Parameters -> JSON body, keeping only what the shape defines, as the service's serializer does."""
    if isinstance(shape, StructureShape):
        return {
            member.serialization.get("name", name): _to_wire(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None and "location" not in member.serialization
        }
    if isinstance(shape, ListShape):
        return [_to_wire(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: _to_wire(shape.value, item) for key, item in value.items()}
    if shape.type_name == "timestamp":
        # rest-json's default for body timestamps is epoch seconds; this model says iso8601 explicitly.
        return _format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))
    if shape.type_name in ("double", "float"):
        return float(value)
    return value


_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "structure": dict,
    "map": dict,
    "list": list,
    "string": str,
    "blob": str,
    "integer": int,
    "long": int,
    "boolean": bool,
    "double": (int, float),
    "float": (int, float),
    "timestamp": (str, int, float),
}


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _has_type(shape: Shape, value: Any) -> bool:
    # bool is an int in Python but not a number on the wire.
    if isinstance(value, bool) and shape.type_name != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES.get(shape.type_name, object))


def _check(shape: Shape, value: Any, path: str) -> None:
    """Validates a value against its shape the way the service's request validation does."""
    if not _has_type(shape, value):
        raise _validation_error(f"{path}: expected a {shape.type_name}, got {type(value).__name__}")
    metadata = shape.metadata
    if isinstance(shape, StructureShape):
        for name in shape.required_members:
            if value.get(name) is None:
                raise _validation_error(f"{_join(path, name)}: required member is missing")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name))
        return
    if isinstance(shape, (ListShape, MapShape, StringShape)) or shape.type_name == "blob":
        size = len(value)
        if "min" in metadata and size < metadata["min"]:
            raise _validation_error(f"{path}: length {size} is below the minimum of {metadata['min']}")
        if "max" in metadata and size > metadata["max"]:
            raise _validation_error(f"{path}: length {size} is above the maximum of {metadata['max']}")
    if isinstance(shape, ListShape):
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]")
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            _check(shape.key, key, f"{path} key")
            _check(shape.value, item, f"{path}[{key!r}]")
    elif isinstance(shape, StringShape):
        if shape.enum and value not in shape.enum:
            raise _validation_error(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        # Smithy patterns are unanchored (a search, not a full match).
        if "pattern" in metadata and not re.search(metadata["pattern"], value):
            raise _validation_error(f"{path}: {value!r} does not match the pattern {metadata['pattern']}")
    elif shape.type_name in ("integer", "long"):
        if "min" in metadata and value < metadata["min"]:
            raise _validation_error(f"{path}: {value} is below the minimum of {metadata['min']}")
        if "max" in metadata and value > metadata["max"]:
            raise _validation_error(f"{path}: {value} is above the maximum of {metadata['max']}")


def _read_input(
    operation: OperationModel, labels: Mapping[str, str], query: Mapping[str, list[str]], body: bytes
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        raise _validation_error("The request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _validation_error("The request body must be a JSON object")
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = _from_text(member, labels[wire_name], name)
        elif location == "querystring":
            values = query.get(wire_name)
            if values:
                params[name] = (
                    [_from_text(member.member, value, name) for value in values]
                    if isinstance(member, ListShape)
                    else _from_text(member, values[0], name)
                )
        elif location is None and wire_name in payload:
            params[name] = _from_wire(member, payload[wire_name])
    _check(shape, params, "")
    return params


def _now() -> str:
    # Microseconds internally keep creation order and UpdatedAt > CreatedAt; the wire gets milliseconds.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _region_of(authorization: str | None) -> str:
    match = _CREDENTIAL_SCOPE.search(authorization or "")
    return match.group(1) if match else DEFAULT_REGION


def _partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _check_id(value: str, name: str) -> None:
    if not ID_PATTERN.match(value):
        raise _validation_error(f"{name} {value!r} is not valid: expected 30 to 40 letters or digits")


def _check_action(action: Mapping[str, Any] | None) -> None:
    """The service's rules on an Action beyond the model (which makes every member optional)."""
    export = (action or {}).get("ExportRevisionToS3")
    if export is None:
        raise _validation_error("Action.ExportRevisionToS3: required member is missing")
    encryption = export.get("Encryption")
    if encryption is not None and encryption["Type"] == "aws:kms" and not encryption.get("KmsKeyArn"):
        raise _validation_error("Action.ExportRevisionToS3.Encryption.KmsKeyArn: required when Type is aws:kms")
    key_pattern = export["RevisionDestination"].get("KeyPattern")
    if key_pattern is not None:
        try:
            check_key_pattern(key_pattern)
        except PropertyError as error:
            raise _validation_error(str(error)) from None


def _data_set_of(event: Mapping[str, Any] | None) -> str:
    published = (event or {}).get("RevisionPublished")
    if published is None:
        raise _validation_error("Event.RevisionPublished: required member is missing")
    data_set_id: str = published["DataSetId"]
    _check_id(data_set_id, "Event.RevisionPublished.DataSetId")
    return data_set_id


def _check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS_PER_RESOURCE:
        raise _validation_error(f"Tags: {len(tags)} tags exceed the maximum of {MAX_TAGS_PER_RESOURCE} per resource")
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise _validation_error(f"Tags key {key!r}: must be 1 to {MAX_TAG_KEY_LENGTH} characters long")
        if key.lower().startswith("aws:"):
            raise _validation_error(f"Tags key {key!r}: the aws: prefix is reserved")
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise _validation_error(f"Tags value for {key!r}: must be at most {MAX_TAG_VALUE_LENGTH} characters long")


def _encode_token(item: Mapping[str, Any]) -> str:
    # Position by (CreatedAt, Id) rather than by index, so deleting between pages skips nothing.
    return base64.urlsafe_b64encode(json.dumps([item["CreatedAt"], item["Id"]]).encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        created_at, event_action_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise _validation_error(f"NextToken {token!r} is not valid") from None
    return str(created_at), str(event_action_id)


def _error_response(error: _ServiceError, request_id: str) -> _Response:
    model = service_model()
    if error.code in model.shape_names:
        shape = model.shape_for(error.code)
        status = int(shape.metadata["error"]["httpStatusCode"])
        body = _to_wire(shape, {"Message": error.message, **error.members})
    else:
        # Only unroutable requests get here; API Gateway answers those with a 404.
        status, body = 404, {"Message": error.message}
    return _Response(
        status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id},
        json.dumps(body).encode(),
    )


def local_client(url: str, *, region: str = DEFAULT_REGION, config: Config | None = None) -> DataExchangeClient:
    """An unmodified boto3 Data Exchange client for a local endpoint, with throwaway credentials."""
    return boto3.client(
        "dataexchange",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


class LocalDataExchange:
    """The event-action part of Data Exchange, served over HTTP, with fault injection and a call log."""

    def __init__(self, state_file: Path | None = None, account: str = DEFAULT_ACCOUNT) -> None:
        self._state_file = state_file
        self._account = account
        self._lock = threading.Lock()
        self._event_actions: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, list[_PendingFault]] = {}
        self._calls: list[Call] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if state_file is not None and state_file.exists() and state_file.stat().st_size:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            self._event_actions = {item["Id"]: item for item in state["EventActions"]}

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("The endpoint is already running")
        self._server = _Server((host, port), self)
        # A short poll interval, because stop() waits for the serving loop to notice the shutdown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="local-dataexchange", daemon=True
        )
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
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The endpoint is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def inject(self, operation: str, fault: Fault) -> None:
        if operation != WILDCARD and operation not in OPERATIONS:
            expected = ", ".join(OPERATIONS)
            raise ValueError(f"Unknown operation {operation!r}: expected {WILDCARD!r} or one of {expected}")
        with self._lock:
            self._faults.setdefault(operation, []).append(_PendingFault(fault, fault.count))

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def event_actions(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._event_actions.values()))

    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Response:
        """Answers one HTTP request; separate from the HTTP server so the logic has no socket in it."""
        request_id = str(uuid.uuid4())
        url = urlsplit(target)
        routed = _match_route(method, url.path)
        operation = routed[0].operation.name if routed else _UNKNOWN_OPERATION
        try:
            if routed is None:
                raise _ServiceError("UnknownOperationException", f"No operation for {method} {url.path}")
            route, labels = routed
            self._apply_faults(operation)
            params = _read_input(route.operation, labels, parse_qs(url.query, keep_blank_values=True), body)
            region = _region_of(headers.get("authorization"))
            # Serialised under the lock too: the output is the stored item, which another request may change.
            with self._lock:
                output = getattr(self, f"_op_{operation}")(params, region)
                response = self._success_response(route.operation, output, request_id)
        except _ServiceError as error:
            response = _error_response(error, request_id)
        except Exception as error:
            # A bug here must reach the test as a failure with a cause, not as a dropped connection.
            response = _error_response(
                _ServiceError("InternalServerException", f"{type(error).__name__}: {error}"), request_id
            )
        with self._lock:
            self._calls.append(Call(operation, response.status))
        return response

    def _apply_faults(self, operation: str) -> None:
        # At most one delay and one failure per call, the operation's own before the wildcard's, oldest first.
        delay: float | None = None
        failure: Fault | None = None
        with self._lock:
            for key in (operation, WILDCARD):
                pending = self._faults.get(key, [])
                for entry in pending:
                    if entry.remaining <= 0:
                        continue
                    if entry.fault.kind == "latency" and delay is None:
                        delay = entry.fault.seconds
                        entry.remaining -= 1
                    elif entry.fault.kind != "latency" and failure is None:
                        failure = entry.fault
                        entry.remaining -= 1
                self._faults[key] = [entry for entry in pending if entry.remaining > 0]
        if delay:
            # Outside the lock, so a slow call does not hold up the others.
            time.sleep(delay)
        if failure is not None:
            code, message = _FAULT_ERRORS[failure.kind]
            members = {"ExceptionCause": failure.exception_cause} if failure.exception_cause else {}
            raise _ServiceError(code, message.format(operation=f"dataexchange:{operation}"), **members)

    @staticmethod
    def _success_response(operation: OperationModel, output: Mapping[str, Any] | None, request_id: str) -> _Response:
        status = int(operation.http.get("responseCode", 200))
        headers = {"x-amzn-RequestId": request_id}
        if operation.output_shape is None or output is None:
            return _Response(status, headers)
        headers["Content-Type"] = "application/json"
        return _Response(status, headers, json.dumps(_to_wire(operation.output_shape, output)).encode())

    def _save(self) -> None:
        if self._state_file is None:
            return
        write_atomically(
            self._state_file, json.dumps({"EventActions": list(self._event_actions.values())}, indent=2, sort_keys=True)
        )

    def _get(self, event_action_id: str) -> dict[str, Any]:
        _check_id(event_action_id, "EventActionId")
        item = self._event_actions.get(event_action_id)
        if item is None:
            raise _ServiceError(
                "ResourceNotFoundException",
                f"Event action {event_action_id} was not found",
                ResourceId=event_action_id,
                ResourceType="EVENT_ACTION",
            )
        return item

    def _by_arn(self, arn: str) -> dict[str, Any]:
        for item in self._event_actions.values():
            if item["Arn"] == arn:
                return item
        kind = {"ResourceType": "EVENT_ACTION"} if ":event-actions/" in arn else {}
        raise _ServiceError("ResourceNotFoundException", f"Resource {arn} was not found", ResourceId=arn, **kind)

    # Operation implementations: called under the lock with validated parameters, named _op_<Operation>.

    def _op_CreateEventAction(self, params: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        _check_action(params["Action"])
        data_set_id = _data_set_of(params["Event"])
        tags = params.get("Tags") or {}
        _check_tags(tags)
        on_data_set = sum(1 for item in self._event_actions.values() if _data_set_of(item["Event"]) == data_set_id)
        if on_data_set >= EVENT_ACTIONS_PER_DATA_SET:
            raise _ServiceError(
                "ServiceLimitExceededException",
                f"Data set {data_set_id} already has {on_data_set} auto-export event actions",
                LimitName="Auto export event actions per data set",
                LimitValue=EVENT_ACTIONS_PER_DATA_SET,
            )
        if len(self._event_actions) >= EVENT_ACTIONS_PER_ACCOUNT:
            raise _ServiceError(
                "ServiceLimitExceededException",
                f"The account already has {len(self._event_actions)} event actions",
                LimitName="Event actions per account",
                LimitValue=EVENT_ACTIONS_PER_ACCOUNT,
            )
        event_action_id = uuid.uuid4().hex
        now = _now()
        item = {
            "Id": event_action_id,
            "Arn": f"arn:{_partition_of(region)}:dataexchange:{region}:{self._account}:event-actions/{event_action_id}",
            "Action": params["Action"],
            "Event": params["Event"],
            "Tags": dict(tags),
            "CreatedAt": now,
            "UpdatedAt": now,
        }
        self._event_actions[event_action_id] = item
        self._save()
        return item

    def _op_GetEventAction(self, params: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        return self._get(params["EventActionId"])

    def _op_UpdateEventAction(self, params: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        item = self._get(params["EventActionId"])
        if "Action" in params:
            _check_action(params["Action"])
            item["Action"] = params["Action"]
        item["UpdatedAt"] = _now()
        self._save()
        return item

    def _op_DeleteEventAction(self, params: dict[str, Any], region: str) -> None:  # noqa: N802
        del self._event_actions[self._get(params["EventActionId"])["Id"]]
        self._save()

    def _op_ListEventActions(self, params: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        data_set_id = params.get("EventSourceId")
        if data_set_id is not None:
            _check_id(data_set_id, "EventSourceId")
        items = sorted(
            (
                item
                for item in self._event_actions.values()
                if data_set_id is None or _data_set_of(item["Event"]) == data_set_id
            ),
            key=lambda item: (item["CreatedAt"], item["Id"]),
        )
        if "NextToken" in params:
            after = _decode_token(params["NextToken"])
            items = [item for item in items if (item["CreatedAt"], item["Id"]) > after]
        page_size = params.get("MaxResults", DEFAULT_MAX_RESULTS)
        page = items[:page_size]
        output: dict[str, Any] = {"EventActions": page}
        if len(items) > page_size:
            output["NextToken"] = _encode_token(page[-1])
        return output

    def _op_TagResource(self, params: dict[str, Any], region: str) -> None:  # noqa: N802
        item = self._by_arn(params["ResourceArn"])
        tags = {**item["Tags"], **params["Tags"]}
        _check_tags(tags)
        item["Tags"] = tags
        self._save()

    def _op_UntagResource(self, params: dict[str, Any], region: str) -> None:  # noqa: N802
        item = self._by_arn(params["ResourceArn"])
        item["Tags"] = {key: value for key, value in item["Tags"].items() if key not in params["TagKeys"]}
        self._save()

    def _op_ListTagsForResource(self, params: dict[str, Any], region: str) -> dict[str, Any]:  # noqa: N802
        return {"Tags": self._by_arn(params["ResourceArn"])["Tags"]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], endpoint: LocalDataExchange) -> None:
        self.endpoint = endpoint
        super().__init__(address, _Handler)


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
        response = self.server.endpoint._handle(self.command, self.path, headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
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

    def do_HEAD(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        # The call log is the record; per-request lines on stderr would drown test and CLI output.
        return


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offline.dataexchange_endpoint",
        description="Serve a local AWS Data Exchange event-action endpoint for boto3 and the AWS CLI.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--state", type=Path, help="JSON file that keeps event actions between runs")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="account id used in ARNs")
    args = parser.parse_args(argv)
    endpoint = LocalDataExchange(state_file=args.state, account=args.account)
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
