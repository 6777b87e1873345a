"""Plays CloudFormation's part for the custom resources of a synthesized stack, offline.

It reads the cloud assembly the CDK CLI wrote, resolves each custom resource's properties the way
CloudFormation would (intrinsics resolved, every value a string), invokes the handler from the
staged Lambda asset in a Lambda-like process, reads the response the handler PUTs back, and keeps
the stack's state in a file, so create, update (in place or replacement) and delete happen as
they would in AWS. Resources other than custom resources are not emulated: they get plausible
physical ids so that references to them resolve.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import write_atomically
from .response_server import MAX_RESPONSE_BYTES, ResponseServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
# What the Lambda runtime gives every handler process: a region and (here, fake) credentials in the
# environment, and nothing from this machine's AWS configuration.
LAMBDA_BASE_ENVIRONMENT: Mapping[str, str] = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "ASIAOFFLINEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "offline-secret-access-key",
    "AWS_SESSION_TOKEN": "offline-session-token",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
PARTITION = "aws"
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
MAX_PHYSICAL_ID_BYTES = 1024


class LifecycleError(Exception):
    """A step that failed, in one line a person can act on."""


@dataclass(frozen=True)
class Invocation:
    """One request delivered to the handler and what came back."""

    request: dict[str, Any]
    response: dict[str, Any]
    response_bytes: int
    output: str
    stats: dict[str, float]
    seconds: float

    @property
    def succeeded(self) -> bool:
        return bool(self.response.get("Status") == "SUCCESS")


@dataclass
class ResourceState:
    resource_type: str
    physical_id: str
    properties: dict[str, Any]
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class StackState:
    stack_id: str
    resources: dict[str, ResourceState]

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(raw["stack_id"], {key: ResourceState(**value) for key, value in raw["resources"].items()})

    def save(self, path: Path) -> None:
        state = {
            "stack_id": self.stack_id,
            "resources": {key: vars(value) for key, value in self.resources.items()},
        }
        write_atomically(path, json.dumps(state, indent=2))


@dataclass(frozen=True)
class LambdaFunction:
    logical_id: str
    asset_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str]


class SynthesizedStack:
    """One stack of a cloud assembly: its template and the staged assets beside it."""

    def __init__(self, assembly_dir: Path, stack_name: str) -> None:
        self.assembly_dir = assembly_dir
        self.stack_name = stack_name
        manifest = json.loads((assembly_dir / "manifest.json").read_text())
        artifact = manifest["artifacts"].get(stack_name)
        if artifact is None or artifact.get("type") != "aws:cloudformation:stack":
            raise LifecycleError(f"No stack {stack_name} in the cloud assembly {assembly_dir}")
        self.template: dict[str, Any] = json.loads((assembly_dir / artifact["properties"]["templateFile"]).read_text())
        self.resources: dict[str, Any] = self.template.get("Resources", {})
        self._staged_assets = _staged_assets(assembly_dir, manifest)

    @classmethod
    def synthesize(cls, app_dir: Path, stack_name: str, context: Mapping[str, str], out_dir: Path) -> SynthesizedStack:
        """Runs the real CDK CLI (`npx cdk synth`) on the app."""
        command = ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(out_dir)]
        for key, value in context.items():
            command += ["--context", f"{key}={value}"]
        environment = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "1",
        }
        result = subprocess.run(command, cwd=app_dir, env=environment, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            useful = [line for line in lines if not line.startswith(("Bundling asset", "Subprocess exited"))]
            raise LifecycleError(f"cdk synth failed: {(useful or lines or ['no output'])[-1].strip()}")
        return cls(out_dir, stack_name)

    def custom_resources(self) -> list[str]:
        """Logical ids of the custom resources, in an order that respects DependsOn and references."""
        ordered: list[str] = []

        def visit(logical_id: str) -> None:
            if logical_id in ordered:
                return
            for dependency in sorted(_dependencies(self.resources[logical_id])):
                if dependency in self.resources:
                    visit(dependency)
            ordered.append(logical_id)

        for logical_id in self.resources:
            visit(logical_id)
        return [key for key in ordered if _is_custom_resource(self.resources[key]["Type"])]

    def function(self, logical_id: str) -> LambdaFunction:
        resource = self.resources[logical_id]
        if resource["Type"] != "AWS::Lambda::Function":
            raise LifecycleError(f"{logical_id} is a {resource['Type']}, not a Lambda function")
        properties = resource["Properties"]
        asset_path = self._staged_assets.get(str(properties.get("Code", {}).get("S3Key")))
        if asset_path is None:
            raise LifecycleError(f"Function {logical_id} has no staged asset (inline code is not supported)")
        return LambdaFunction(
            logical_id=logical_id,
            asset_dir=self.assembly_dir / asset_path,
            handler=properties["Handler"],
            timeout_seconds=int(properties.get("Timeout", 3)),
            memory_mb=int(properties.get("MemorySize", 128)),
            environment=properties.get("Environment", {}).get("Variables", {}),
        )


def _staged_assets(assembly_dir: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """S3 object key -> staged folder, from the asset manifests the deployment would publish."""
    staged: dict[str, str] = {}
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") != "cdk:asset-manifest":
            continue
        assets = json.loads((assembly_dir / artifact["properties"]["file"]).read_text())
        for asset in assets.get("files", {}).values():
            for destination in asset["destinations"].values():
                staged[destination["objectKey"]] = asset["source"]["path"]
    return staged


def _is_custom_resource(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource"


def _dependencies(resource: Mapping[str, Any]) -> set[str]:
    depends_on = resource.get("DependsOn", [])
    found = set([depends_on] if isinstance(depends_on, str) else depends_on)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Ref" in node and isinstance(node["Ref"], str):
                found.add(node["Ref"])
            if "Fn::GetAtt" in node:
                target = node["Fn::GetAtt"]
                found.add(target[0] if isinstance(target, list) else target.split(".")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource.get("Properties", {}))
    return found


class OfflineCloudFormation:
    """CloudFormation for one stack, with its state in a file so separate commands see one stack.

    `python_for_lambda` is the interpreter of an environment that holds boto3 and nothing of ours.
    """

    def __init__(
        self,
        stack: SynthesizedStack,
        state_file: Path,
        endpoint_url: str,
        python_for_lambda: Path,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.state_file = state_file
        self.endpoint_url = endpoint_url
        self.python_for_lambda = python_for_lambda
        self.parameters = dict(parameters or {})
        self.invocations: list[Invocation] = []

    # --- the stack operations -------------------------------------------------------------

    def deploy(self) -> dict[str, str]:
        """Creates the stack, or updates it to the synthesized template; returns the outputs."""
        state = StackState.load(self.state_file)
        if state is None:
            state = StackState(self._new_stack_id(), {})
        wanted = self.stack.custom_resources()
        with ResponseServer() as responses:
            replaced: list[tuple[str, ResourceState]] = []
            for logical_id in wanted:
                properties = self._resolve_properties(logical_id, state)
                current = state.resources.get(logical_id)
                if current is None:
                    state.resources[logical_id] = self._create(responses, state, logical_id, properties)
                elif current.properties != properties:
                    updated = self._update(responses, state, logical_id, current, properties)
                    if updated.physical_id != current.physical_id:
                        replaced.append((logical_id, current))
                    state.resources[logical_id] = updated
                state.save(self.state_file)
            # Cleanup phase: replaced and removed resources are deleted once the update succeeded.
            for logical_id, old in replaced:
                self._delete(responses, state, logical_id, old)
            for logical_id in [key for key in state.resources if key not in wanted]:
                self._delete(responses, state, logical_id, state.resources.pop(logical_id))
        state.save(self.state_file)
        return self._outputs(state)

    def destroy(self) -> None:
        """Deletes every custom resource (in reverse order) and forgets the stack."""
        state = StackState.load(self.state_file)
        if state is None:
            return
        with ResponseServer() as responses:
            for logical_id in reversed(list(state.resources)):
                self._delete(responses, state, logical_id, state.resources[logical_id])
                del state.resources[logical_id]
                state.save(self.state_file)
        self.state_file.unlink()

    def _outputs(self, state: StackState) -> dict[str, str]:
        return {
            name: str(self._resolve(output["Value"], state))
            for name, output in self.stack.template.get("Outputs", {}).items()
        }

    # --- one resource ---------------------------------------------------------------------

    def _create(
        self, responses: ResponseServer, state: StackState, logical_id: str, properties: dict[str, Any]
    ) -> ResourceState:
        request = self.request("Create", state, logical_id, properties)
        invocation = self.invoke(responses, request)
        response = invocation.response
        if not invocation.succeeded:
            # Rollback: CloudFormation deletes what the failed Create reported, whatever that id is.
            failed = ResourceState(request["ResourceType"], response["PhysicalResourceId"], properties)
            self._delete(responses, state, logical_id, failed)
            raise LifecycleError(f"CREATE_FAILED {logical_id}: {response.get('Reason', 'no reason given')}")
        return ResourceState(request["ResourceType"], response["PhysicalResourceId"], properties, response["Data"])

    def _update(
        self,
        responses: ResponseServer,
        state: StackState,
        logical_id: str,
        current: ResourceState,
        properties: dict[str, Any],
    ) -> ResourceState:
        request = self.request("Update", state, logical_id, properties, current)
        invocation = self.invoke(responses, request)
        response = invocation.response
        if not invocation.succeeded:
            raise LifecycleError(f"UPDATE_FAILED {logical_id}: {response.get('Reason', 'no reason given')}")
        return ResourceState(current.resource_type, response["PhysicalResourceId"], properties, response["Data"])

    def _delete(self, responses: ResponseServer, state: StackState, logical_id: str, current: ResourceState) -> None:
        if self.stack.resources.get(logical_id, {}).get("DeletionPolicy") == "Retain":
            return
        invocation = self.invoke(responses, self.request("Delete", state, logical_id, current.properties, current))
        if not invocation.succeeded:
            raise LifecycleError(f"DELETE_FAILED {logical_id}: {invocation.response.get('Reason', 'no reason given')}")

    # --- the protocol -----------------------------------------------------------------------

    def request(
        self,
        request_type: str,
        state: StackState,
        logical_id: str,
        properties: Mapping[str, Any],
        current: ResourceState | None = None,
    ) -> dict[str, Any]:
        """A request as CloudFormation builds it (without ResponseURL, which `invoke` adds)."""
        request: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": properties["ServiceToken"],
            "RequestId": str(uuid.uuid4()),
            "ResourceType": self.stack.resources.get(logical_id, {}).get("Type")
            or (current.resource_type if current else ""),
            "LogicalResourceId": logical_id,
            "StackId": state.stack_id,
            "ResourceProperties": dict(properties),
        }
        if current is not None:
            request["PhysicalResourceId"] = current.physical_id
        if request_type == "Update" and current is not None:
            request["OldResourceProperties"] = current.properties
        return request

    def invoke(self, responses: ResponseServer, request: Mapping[str, Any]) -> Invocation:
        """Delivers one request to the handler in a fresh Lambda-like process and reads its answer."""
        function = self.stack.function(self._function_of(request["ServiceToken"]))
        response_url, signature = responses.new_url(request["RequestId"])
        event = {**request, "ResponseURL": response_url}
        before = len(responses.responses_for(request["RequestId"]))
        started = time.perf_counter()
        with _stats_file() as stats_path:
            try:
                result = subprocess.run(
                    [
                        str(self.python_for_lambda),
                        "-I",
                        # /var/task is read-only in Lambda: no __pycache__ lands in the asset here either.
                        "-B",
                        str(BOOTSTRAP),
                        str(function.asset_dir),
                        function.handler,
                        str(function.timeout_seconds * 1000),
                        str(stats_path),
                    ],
                    input=json.dumps(event),
                    env=self._lambda_environment(function, responses),
                    capture_output=True,
                    text=True,
                    timeout=function.timeout_seconds + 5,
                    check=False,
                )
            except subprocess.TimeoutExpired as error:
                raise LifecycleError(
                    f"{request['RequestType']} {request['LogicalResourceId']}: the handler ran past its "
                    f"{function.timeout_seconds} s timeout"
                ) from error
            stats = json.loads(stats_path.read_text()) if stats_path.stat().st_size else {}
        seconds = time.perf_counter() - started
        output = result.stdout + result.stderr
        if signature in output:
            raise LifecycleError("The handler logged the ResponseURL's signature: the ResponseURL is a credential")
        received = responses.responses_for(request["RequestId"])[before:]
        if not received:
            last_line = output.strip().splitlines()[-1] if output.strip() else "no output"
            raise LifecycleError(
                f"{request['RequestType']} {request['LogicalResourceId']}: the handler sent no response "
                f"(CloudFormation would wait for the ServiceTimeout); it printed: {last_line}"
            )
        raw = received[-1].raw
        body = received[-1].body
        _check_response(body, len(raw), request)
        invocation = Invocation(dict(request), body, len(raw), output, stats, seconds)
        self.invocations.append(invocation)
        return invocation

    def _lambda_environment(self, function: LambdaFunction, responses: ResponseServer) -> dict[str, str]:
        return {
            **LAMBDA_BASE_ENVIRONMENT,
            "AWS_LAMBDA_FUNCTION_NAME": self._physical_name(function.logical_id),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "LAMBDA_TASK_ROOT": str(function.asset_dir),
            "AWS_ENDPOINT_URL_DATAEXCHANGE": self.endpoint_url,
            "SSL_CERT_FILE": str(responses.ca_file),
            **function.environment,
        }

    def _function_of(self, service_token: str) -> str:
        for logical_id, resource in self.stack.resources.items():
            if resource["Type"] == "AWS::Lambda::Function" and service_token == self._physical_arn(logical_id):
                return logical_id
        raise LifecycleError(f"ServiceToken {service_token} is not a Lambda function of this stack")

    # --- what CloudFormation resolves -----------------------------------------------------------

    def _new_stack_id(self) -> str:
        return f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack.stack_name}/{uuid.uuid4()}"

    def _resolve_properties(self, logical_id: str, state: StackState) -> dict[str, Any]:
        resolved = self._resolve(self.stack.resources[logical_id].get("Properties", {}), state)
        return {key: _stringify(value) for key, value in resolved.items()}

    def _resolve(self, node: Any, state: StackState) -> Any:
        if isinstance(node, list):
            return [self._resolve(value, state) for value in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((name, argument),) = node.items()
            if name == "Ref":
                return self._ref(argument, state)
            if name == "Fn::GetAtt":
                target, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self._get_att(target, attribute, state)
            if name == "Fn::Join":
                separator, values = argument
                return separator.join(str(value) for value in self._resolve(values, state))
            if name == "Fn::Select":
                index, values = argument
                return self._resolve(values, state)[int(index)]
            if name == "Fn::Split":
                separator, value = argument
                return str(self._resolve(value, state)).split(separator)
            if name.startswith("Fn::"):
                raise LifecycleError(f"{name} is not supported by the offline runner")
        return {key: self._resolve(value, state) for key, value in node.items()}

    def _ref(self, name: str, state: StackState) -> str:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack.stack_name,
            "AWS::StackId": state.stack_id,
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        parameter = self.stack.template.get("Parameters", {}).get(name)
        if parameter is not None:
            if "Default" not in parameter:
                raise LifecycleError(f"Parameter {name} has no default: pass a value for it")
            return str(parameter["Default"])
        if name in state.resources:
            return state.resources[name].physical_id
        if name in self.stack.resources:
            return self._physical_name(name)
        raise LifecycleError(f"Ref to unknown {name}")

    def _get_att(self, target: str, attribute: str, state: StackState) -> str:
        if target in state.resources:
            data = state.resources[target].data
            if attribute not in data:
                raise LifecycleError(f"{target} returned no attribute {attribute} (it has {', '.join(data) or 'none'})")
            return data[attribute]
        resource_type = self.stack.resources.get(target, {}).get("Type", "")
        if attribute == "Arn" and resource_type == "AWS::Lambda::Function":
            return self._physical_arn(target)
        if attribute == "Arn":
            service = resource_type.split("::")[1].lower()
            return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{self._physical_name(target)}"
        raise LifecycleError(f"Fn::GetAtt {target}.{attribute} is not supported by the offline runner")

    def _physical_name(self, logical_id: str) -> str:
        # Lower case and short enough for a bucket name, stable for one stack.
        digest = hashlib.sha256(f"{self.stack.stack_name}/{logical_id}".encode()).hexdigest()[:12]
        return f"{self.stack.stack_name}-{logical_id}"[:48].lower() + f"-{digest}"

    def _physical_arn(self, logical_id: str) -> str:
        return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{self._physical_name(logical_id)}"


def _stringify(value: Any) -> Any:
    """CloudFormation hands every scalar property to a custom resource as a string."""
    if isinstance(value, dict):
        return {key: _stringify(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stringify(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_response(body: Mapping[str, Any], size: int, request: Mapping[str, Any]) -> None:
    """What CloudFormation itself would reject in a response."""
    problems = []
    if size > MAX_RESPONSE_BYTES:
        problems.append(f"body is {size} bytes, over CloudFormation's {MAX_RESPONSE_BYTES}")
    if body.get("Status") not in ("SUCCESS", "FAILED"):
        problems.append(f"Status is {body.get('Status')!r}")
    physical_id = body.get("PhysicalResourceId")
    if not physical_id or len(str(physical_id).encode()) > MAX_PHYSICAL_ID_BYTES:
        problems.append("PhysicalResourceId is empty or over 1 KB")
    for key in ("RequestId", "StackId", "LogicalResourceId"):
        if body.get(key) != request[key]:
            problems.append(f"{key} does not echo the request")
    if body.get("Status") == "FAILED" and not body.get("Reason"):
        problems.append("FAILED without a Reason")
    if any(not isinstance(value, str) for value in (body.get("Data") or {}).values()):
        problems.append("Data holds a value that is not a string")
    if problems:
        raise LifecycleError(f"CloudFormation would reject the response: {'; '.join(problems)}")


@contextmanager
def _stats_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="offline-lambda-") as directory:
        path = Path(directory) / "stats.json"
        path.touch()
        yield path
