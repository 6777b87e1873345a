"""AWS's protocols, driven by a botocore service model: routing, parsing, validation, serializing.

REST-JSON (Data Exchange, Lambda: the operation from the method and path, parameters from the path,
query string, headers and a JSON or raw body), JSON 1.1 (EventBridge: the operation from the
X-Amz-Target header, parameters in a JSON body) and Query (CloudFormation: the operation and its
parameters form-encoded in the body, answers in XML). Routes, parameter locations and shapes come from
botocore's own model, so requests are read exactly as boto3 serialises them and answers are parsed
exactly as boto3 expects. Nothing here knows a particular service: each endpoint supplies operations.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StringShape, StructureShape

_URI_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")

_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "structure": dict,
    "map": dict,
    "list": list,
    "string": str,
    "blob": (str, bytes),
    "integer": int,
    "long": int,
    "boolean": bool,
    "double": (int, float),
    "float": (int, float),
    "timestamp": (str, int, float),
}


class ServiceError(Exception):
    """An error answered the way the service does: the code names a modeled error shape."""

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members


def validation_error(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@functools.cache
def service_model(service_name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service_name)


def enum_of(model: ServiceModel, shape_name: str, member: str) -> list[str]:
    """The allowed values of a string member of a structure shape (empty if it has none)."""
    structure = model.shape_for(shape_name)
    shape = structure.members.get(member) if isinstance(structure, StructureShape) else None
    return list(shape.enum) if isinstance(shape, StringShape) else []


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern[str]
    operation: OperationModel


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class Router:
    """Finds the operation a request addresses, and its path labels."""

    def __init__(self, model: ServiceModel, operations: Mapping[str, object]) -> None:
        self._model = model
        self._routes = tuple(self._route(model.operation_model(name)) for name in operations)
        self._names = set(operations)

    @staticmethod
    def _route(operation: OperationModel) -> _Route:
        template = operation.http["requestUri"].split("?", 1)[0]
        pattern, position = "", 0
        for label in _URI_LABEL.finditer(template):
            pattern += re.escape(template[position : label.start()])
            # A greedy label ({Key+}) keeps its slashes; a plain one arrives with '/' encoded as %2F.
            pattern += f"(?P<{label.group(1)}>{'.+' if label.group(2) else '[^/]+'})"
            position = label.end()
        pattern += re.escape(template[position:])
        return _Route(operation.http["method"], re.compile(f"^{pattern}$"), operation)

    def match(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        if self._model.metadata["protocol"] == "query":
            action = _form(request).get("Action", [""])[0]
            return (self._model.operation_model(action), {}) if action in self._names else None
        if self._model.metadata["protocol"] == "json":
            prefix, _, name = request.headers.get("x-amz-target", "").partition(".")
            if prefix == self._model.metadata["targetPrefix"] and name in self._names:
                return self._model.operation_model(name), {}
            return None
        for route in self._routes:
            matched = route.path.match(request.path)
            if matched and route.method == request.method:
                return route.operation, {name: unquote(value) for name, value in matched.groupdict().items()}
        return None


def _from_text(shape: Shape, text: str, path: str) -> Any:
    """A querystring, header or path value, typed as the model says."""
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise validation_error(f"{path}: {text!r} is not an integer") from None
    if shape.type_name == "boolean":
        if text not in ("true", "false"):
            raise validation_error(f"{path}: {text!r} is not a boolean")
        return text == "true"
    return text


def _from_wire(shape: Shape, value: Any) -> Any:
    """JSON body value -> parameters keyed by member name; wrong types pass through for `_check` to name."""
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


def iso8601_milliseconds(moment: datetime) -> str:
    """A UTC time as the service writes it in ISO 8601: to the millisecond, with a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _format_timestamp(value: str, timestamp_format: str) -> str | float:
    moment = datetime.fromisoformat(value)
    if timestamp_format == "iso8601":
        return iso8601_milliseconds(moment)
    if timestamp_format == "rfc822":
        return format_datetime(moment, usegmt=True)
    return moment.timestamp()


def to_wire(shape: Shape, value: Any) -> Any:
    """Parameters -> JSON body, keeping only what the shape defines, as the service's serializer does."""
    if isinstance(shape, StructureShape):
        return {
            member.serialization.get("name", name): to_wire(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None and "location" not in member.serialization
        }
    if isinstance(shape, ListShape):
        return [to_wire(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: to_wire(shape.value, item) for key, item in value.items()}
    if shape.type_name == "timestamp":
        # rest-json's default for body timestamps is epoch seconds; a model may say iso8601 explicitly.
        return _format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))
    if shape.type_name in ("double", "float"):
        return float(value)
    return value


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _has_type(shape: Shape, value: Any) -> bool:
    # bool is an int in Python but not a number on the wire.
    if isinstance(value, bool) and shape.type_name != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES.get(shape.type_name, object))


def _check_size(shape: Shape, size: float, path: str, what: str) -> None:
    metadata = shape.metadata
    if "min" in metadata and size < metadata["min"]:
        raise validation_error(f"{path}: {what} {size} is below the minimum of {metadata['min']}")
    if "max" in metadata and size > metadata["max"]:
        raise validation_error(f"{path}: {what} {size} is above the maximum of {metadata['max']}")


def _check(shape: Shape, value: Any, path: str) -> None:
    """Validates a value against its shape the way the service's request validation does."""
    if not _has_type(shape, value):
        raise validation_error(f"{path}: expected a {shape.type_name}, got {type(value).__name__}")
    if isinstance(shape, StructureShape):
        for name in shape.required_members:
            if value.get(name) is None:
                raise validation_error(f"{_join(path, name)}: required member is missing")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name))
    elif isinstance(shape, (ListShape, MapShape, StringShape)) or shape.type_name == "blob":
        _check_size(shape, len(value), path, "length")
    elif shape.type_name in ("integer", "long"):
        _check_size(shape, value, path, "value")
    if isinstance(shape, ListShape):
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]")
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            _check(shape.key, key, f"{path} key")
            _check(shape.value, item, f"{path}[{key!r}]")
    elif isinstance(shape, StringShape):
        if shape.enum and value not in shape.enum:
            raise validation_error(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        # Smithy patterns are unanchored (a search, not a full match).
        if "pattern" in shape.metadata and not re.search(shape.metadata["pattern"], value):
            raise validation_error(f"{path}: {value!r} does not match the pattern {shape.metadata['pattern']}")


def read_input(operation: OperationModel, labels: Mapping[str, str], request: HttpRequest) -> dict[str, Any]:
    """The operation's parameters from the path labels, query string, headers and body, validated."""
    shape = operation.input_shape
    if shape is None:
        return {}
    if operation.service_model.metadata["protocol"] == "query":
        members: dict[str, Any] = _from_form(shape, {key: values[0] for key, values in _form(request).items()}, "")
        _check(shape, members, "")
        return members
    raw_payload = shape.serialization.get("payload")
    params: dict[str, Any] = {}
    if raw_payload is not None and shape.members[raw_payload].type_name == "blob":
        # The whole body is one member (Lambda's Invoke Payload), not a JSON object of members.
        payload: dict[str, Any] = {}
        if request.body:
            params[raw_payload] = request.body
    else:
        try:
            payload = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            raise validation_error("The request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise validation_error("The request body must be a JSON object")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = _from_text(member, labels[wire_name], name)
        elif location == "header":
            if wire_name.lower() in request.headers:
                params[name] = _from_text(member, request.headers[wire_name.lower()], name)
        elif location == "querystring":
            values = request.query.get(wire_name)
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


def success_response(operation: OperationModel, output: Mapping[str, Any] | None, request_id: str) -> Response:
    """The answer: status and header members where the model puts them, then a raw or JSON body."""
    status = int(operation.http.get("responseCode", 200))
    headers = {"x-amzn-RequestId": request_id}
    shape = operation.output_shape
    if shape is None or output is None:
        return Response(status, headers)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if output.get(name) is None:
            continue
        if location == "statusCode":
            status = int(output[name])
        elif location == "header":
            headers[member.serialization.get("name", name)] = str(output[name])
    raw_payload = shape.serialization.get("payload")
    if raw_payload is not None and shape.members[raw_payload].type_name == "blob":
        body = output.get(raw_payload) or b""
        return Response(status, headers, body.encode() if isinstance(body, str) else body)
    if operation.service_model.metadata["protocol"] == "query":
        headers["Content-Type"] = "text/xml"
        wrapper = shape.serialization.get("resultWrapper", f"{operation.name}Result")
        xml = (
            f'<{operation.name}Response xmlns="{_xml_namespace(operation.service_model)}">'
            f"<{wrapper}>{_to_xml(shape, output)}</{wrapper}>"
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation.name}Response>"
        )
        return Response(status, headers, xml.encode())
    json_1_1 = operation.service_model.metadata["protocol"] == "json"
    headers["Content-Type"] = "application/x-amz-json-1.1" if json_1_1 else "application/json"
    return Response(status, headers, json.dumps(to_wire(shape, output)).encode())


# What IAM's refusal is answered with where the service's model does not list it (CloudFormation's AccessDenied,
# Lambda's AccessDeniedException): 403, as AWS answers it.
_UNMODELED_STATUS = {"AccessDenied": 403, "AccessDeniedException": 403}


def error_response(model: ServiceModel, error: ServiceError, request_id: str) -> Response:
    if model.metadata["protocol"] == "query":
        # Query services answer 400 for a caller's mistake (CloudFormation's ValidationError among them).
        shape = model.shape_for(error.code) if error.code in model.shape_names else None
        unmodeled = _UNMODELED_STATUS.get(error.code, 400)
        status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400)) if shape else unmodeled
        kind = "Receiver" if status >= 500 else "Sender"
        xml = (
            f'<ErrorResponse xmlns="{_xml_namespace(model)}"><Error><Type>{kind}</Type><Code>{error.code}</Code>'
            f"<Message>{escape(error.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode())
    if model.metadata["protocol"] == "json":
        # JSON 1.1 names the error in the body; botocore reads `__type` and `message`.
        shape = model.shape_for(error.code) if error.code in model.shape_names else None
        status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400)) if shape else 400
        body = {"__type": error.code, "message": error.message, **error.members}
    elif error.code in model.shape_names:
        shape = model.shape_for(error.code)
        status = int(shape.metadata["error"]["httpStatusCode"])
        body = to_wire(shape, {"Message": error.message, **error.members})
    else:
        # Only unroutable requests and IAM's refusals get here; API Gateway answers the former with a 404.
        status, body = _UNMODELED_STATUS.get(error.code, 404), {"Message": error.message}
    return Response(
        status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id},
        json.dumps(body).encode(),
    )


def _form(request: HttpRequest) -> dict[str, list[str]]:
    """A Query request's form-encoded parameters (boto3 sends them in the body of a POST)."""
    return parse_qs(request.body.decode(), keep_blank_values=True)


def _from_form(shape: Shape, form: Mapping[str, str], prefix: str) -> Any:
    """Query parameters -> members: a structure's members by name, a list's as `Name.member.N` (1-based)."""
    if isinstance(shape, StructureShape):
        members = {}
        for name, member in shape.members.items():
            key = _join(prefix, member.serialization.get("name", name))
            if key in form or any(field.startswith(f"{key}.") for field in form):
                members[name] = _from_form(member, form, key)
        return members
    if isinstance(shape, ListShape):
        items: list[Any] = []
        while True:
            key = f"{prefix}.member.{len(items) + 1}"
            if key not in form and not any(field.startswith(f"{key}.") for field in form):
                return items
            items.append(_from_form(shape.member, form, key))
    return _from_text(shape, form[prefix], prefix)


def _xml_namespace(model: ServiceModel) -> str:
    return f"http://{model.endpoint_prefix}.amazonaws.com/doc/{model.api_version}/"


def _to_xml(shape: Shape, value: Any) -> str:
    """Members -> the XML of a Query answer: a structure's members as elements, a list's items as <member>."""
    if isinstance(shape, StructureShape):
        return "".join(
            f"<{name}>{_to_xml(member, value[name])}</{name}>"
            for name, member in shape.members.items()
            if value.get(name) is not None
        )
    if isinstance(shape, ListShape):
        return "".join(f"<member>{_to_xml(shape.member, item)}</member>" for item in value)
    if shape.type_name == "timestamp":
        return iso8601_milliseconds(datetime.fromisoformat(value))
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return escape(str(value))


@dataclass(frozen=True)
class Authorization:
    """One IAM authorization a request needs of its caller: the action, on the resource, with the
    condition keys the service adds to the request context (AWS's Service Authorization Reference)."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """Who called, in which Region, and what the call needed authorizing (filled in by the operation); and the
    X-Ray trace header the caller sent (`X-Amzn-Trace-Id`), by which Lambda follows a chain of invocations. With
    `enforce`, IAM decides at once: it raises the service's refusal of a call IAM denies, before the work."""

    region: str
    caller: str
    authorizations: list[Authorization] = field(default_factory=list)
    enforce: Callable[[str, Authorization], None] | None = None
    trace_header: str | None = None

    def authorize(self, action: str, resource: str, **context: str) -> None:
        authorization = Authorization(action, resource, context)
        self.authorizations.append(authorization)
        if self.enforce is not None:
            self.enforce(self.caller, authorization)


# An operation: validated parameters and the request in, the output shape's members out (None: no body).
Operation = Callable[[dict[str, Any], Request], Mapping[str, Any] | None]
