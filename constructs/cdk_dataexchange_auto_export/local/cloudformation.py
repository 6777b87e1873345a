"""Plays CloudFormation's part for the custom resources of a synthesized stack, offline.

It resolves each custom resource's properties the way CloudFormation would (intrinsics resolved,
every value a string), delivers Create, Update and Delete requests to the function named by the
ServiceToken (through `lambda_runtime`), reads the response the handler PUTs back to a local HTTPS
ResponseURL, and keeps the stack's state in a file, so that create, update (in place or
replacement), rollback and delete happen as they would in AWS. Resources other than custom
resources are not emulated: they get plausible physical ids so that references to them resolve.

What CloudFormation and Lambda do around the handler, as their documentation describes it:
- CloudFormation invokes the function asynchronously and waits for the first response to the request's URL (or
  the custom resource's ServiceTimeout), not for the invocation to end: it goes on while the invocation runs.
- Lambda retries an invocation that failed (an error, a timeout, the process killed) as the function's event
  invoke config says (twice by default, about a minute and then two later), and drops one older than its maximum
  event age (6 hours by default). Those waits are not slept: the retries' ages count them, and a retry whose
  request CloudFormation no longer waits for (it has crhelper's answer, or gave up) comes after the stack operation,
  as a minute later would. `deliver_twice` delivers a request a second time then, as Lambda may anyway.
- A Create still running when another resource fails is cancelled: CloudFormation sends a Delete with a physical id
  of its own at once (aws-cdk issue 26139), and the Create goes on (`cancel_create`).
- An update changes the role policies before the custom resources (`on_policies`, where IAM is played at call
  time), and deletes what the new template removed in the cleanup phase, after; a Delete that fails there is
  skipped, leaving the resource (CloudFormation's user guide), and recorded in `cleanup_failures`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .account import ACCOUNT, PARTITION, REGION
from .assembly import LambdaFunction, SynthesizedStack
from .errors import LocalError
from .files import write_atomically
from .lambda_runtime import Execution, InvocationTimeoutError, LambdaRuntime
from .response_server import MAX_RESPONSE_BYTES, ResponseServer

MAX_PHYSICAL_ID_BYTES = 1024
# Lambda's waits before its retries of a failed asynchronous invocation (Lambda developer guide, "How Lambda handles
# errors and retries with asynchronous invocation"): about one minute, then two.
RETRY_WAITS_SECONDS = (60, 120)
# CloudFormation's default ServiceTimeout.
DEFAULT_SERVICE_TIMEOUT_SECONDS = 3600
_POLL_SECONDS = 0.01


class LifecycleError(LocalError):
    """A step that failed, in one line a person can act on."""


@dataclass(frozen=True)
class Invocation:
    """One request delivered to the handler and the answer CloudFormation took; the invocation may still run."""

    request: dict[str, Any]
    response: dict[str, Any]
    response_bytes: int
    attempt: Future[Execution]

    @property
    def execution(self) -> Execution:
        """What the invocation that answered did, once it ended."""
        return self.attempt.result()

    @property
    def succeeded(self) -> bool:
        return bool(self.response.get("Status") == "SUCCESS")


@dataclass
class Delivery:
    """One asynchronous invocation of the handler with a request, as Lambda makes it: its attempts (a retry after each
    that failed, as the function's event invoke config allows), their virtual age, and what CloudFormation got."""

    request: dict[str, Any]
    function: LambdaFunction
    arn: str
    event: dict[str, Any]
    signature: str
    answered_before: int  # responses to the request's URL before this delivery
    attempts: list[Future[Execution]] = field(default_factory=list)
    age_seconds: float = 0.0  # when the last attempt started, counting Lambda's waits
    waited_for: bool = True  # whether CloudFormation still waits for its answer

    def retry_age(self, execution: Execution) -> float | None:
        """When Lambda would start the next attempt after this failed one; None when it would not."""
        retries = len(self.attempts) - 1
        if execution.error is None or retries >= self.function.retry_attempts:
            return None
        age = self.age_seconds + execution.seconds + RETRY_WAITS_SECONDS[min(retries, len(RETRY_WAITS_SECONDS) - 1)]
        return age if age <= self.function.max_event_age_seconds else None


@dataclass
class ResourceState:
    resource_type: str
    physical_id: str
    properties: dict[str, Any]
    data: dict[str, str] = field(default_factory=dict)
    # As DescribeStackResource answers: the resource's status, and its Metadata with intrinsics resolved.
    status: str = "CREATE_COMPLETE"
    metadata: dict[str, Any] | None = None


@dataclass
class StackState:
    """The stack's custom resources, and its Lambda functions as deployed: a resource a new template removes
    is deleted through the function that served it, which the new template may no longer hold."""

    stack_id: str
    resources: dict[str, ResourceState]
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> LambdaFunction's fields
    outputs: dict[str, str] = field(default_factory=dict)  # as the last deploy resolved them
    status: str = "CREATE_COMPLETE"  # as DescribeStacks answers

    @property
    def stack_name(self) -> str:
        """The name in the stack id (arn:...:stack/NAME/UUID)."""
        return self.stack_id.split(":stack/", 1)[1].split("/", 1)[0]

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        resources = {key: ResourceState(**value) for key, value in raw["resources"].items()}
        return cls(raw["stack_id"], resources, raw.get("functions", {}), raw.get("outputs", {}), raw.get("status", ""))

    def save(self, path: Path) -> None:
        state = {
            "stack_id": self.stack_id,
            "resources": {key: vars(value) for key, value in self.resources.items()},
            "functions": self.functions,
            "outputs": self.outputs,
            "status": self.status,
        }
        write_atomically(path, json.dumps(state, indent=2))


def is_custom_resource(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource"


class OfflineCloudFormation:
    """CloudFormation for one stack, with its state in a file so that separate commands see one stack.

    Use it as a context manager: it serves the ResponseURLs while open.
    """

    def __init__(
        self,
        stack: SynthesizedStack,
        state_file: Path,
        runtime: LambdaRuntime,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.state_file = state_file
        self.runtime = runtime
        self.parameters = dict(parameters or {})
        self.invocations: list[Invocation] = []
        # Deliveries after the stack operation: Lambda's retries of a request CloudFormation no longer waited for, and
        # duplicates (`deliver_twice`), each with the answer it sent (nobody reads it) or None.
        self.redeliveries: list[tuple[Delivery, dict[str, Any] | None]] = []
        # What a failed Delete of the cleanup phase left, one line each.
        self.cleanup_failures: list[str] = []
        # Told when an operation changes the stack's role policies (before its custom resources): IAM at call time.
        self.on_policies: Callable[[OfflineCloudFormation], None] | None = None
        self._responses: ResponseServer | None = None
        self._attempts = ThreadPoolExecutor(thread_name_prefix="offline-cfn-invoke")
        self._later: list[Delivery] = []
        self._duplicates: set[tuple[str, str]] = set()
        self._cancels: dict[str, Callable[[], bool]] = {}
        self._lock = threading.Lock()
        # The stack this runner deleted: CloudFormation still describes a deleted stack by its id.
        self.deleted: StackState | None = None

    def __enter__(self) -> Self:
        self._responses = ResponseServer().__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._responses is not None:
            try:
                self.settle()
            finally:
                self._attempts.shutdown()
                self._responses.__exit__(exc_type, exc, traceback)
                self._responses = None

    # --- what a test asks of CloudFormation and Lambda ------------------------------------------

    def deliver_twice(self, request_type: str, logical_id: str) -> None:
        """Lambda delivers the next such request a second time, after the stack operation (at-least-once delivery)."""
        self._duplicates.add((request_type, logical_id))

    def cancel_create(self, logical_id: str, when: Callable[[], bool]) -> None:
        """The next Create of `logical_id` is cancelled as CloudFormation cancels one still running when another
        resource fails: once `when()` holds while it waits for the answer, the resource reads CREATE_FAILED and then
        DELETE_IN_PROGRESS, a Delete with a physical id of CloudFormation's own goes to the handler at once, the
        Create's answer is ignored, and the deploy fails."""
        self._cancels[logical_id] = when

    def state(self) -> StackState:
        """The stack as it stands, or a new, empty one."""
        return StackState.load(self.state_file) or StackState(
            f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack.stack_name}/{uuid.uuid4()}", {}
        )

    # --- the stack operations -------------------------------------------------------------

    def deploy(self) -> dict[str, str]:
        """Creates the stack, or updates it to the synthesized template; returns the outputs."""
        state = self.state()
        creating = not self.state_file.exists()
        state.status = "CREATE_IN_PROGRESS" if creating else "UPDATE_IN_PROGRESS"
        state.save(self.state_file)
        try:
            try:
                self._deploy(state, creating)
            except LifecycleError:
                state.status = "ROLLBACK_COMPLETE" if creating else "UPDATE_ROLLBACK_COMPLETE"
                state.save(self.state_file)
                raise
            state.status = "CREATE_COMPLETE" if creating else "UPDATE_COMPLETE"
            state.save(self.state_file)
        finally:
            self.settle()
        return dict(state.outputs)

    def _deploy(self, state: StackState, creating: bool) -> None:
        wanted = [
            key for key in self.stack.in_dependency_order() if is_custom_resource(self.stack.resources[key]["Type"])
        ]
        # CloudFormation creates and updates the functions first, and deletes those the template lost last.
        functions = self.stack.of_type("AWS::Lambda::Function")
        for logical_id in functions:
            found = self.lambda_function(self.function_arn(logical_id))
            assert found is not None
            state.functions[logical_id] = {**vars(found[0]), "asset_dir": str(found[0].asset_dir)}
        if self.on_policies is not None:
            self.on_policies(self)
        replaced: list[tuple[str, ResourceState]] = []
        for logical_id in wanted:
            properties = self._resolve_properties(logical_id, state)
            metadata = self._resolve(self.stack.resources[logical_id].get("Metadata"), state)
            current = state.resources.get(logical_id)
            if current is None:
                # Listed, in progress, while its Create runs; gone again if it fails (the rollback deletes it).
                pending = ResourceState(
                    self.stack.resources[logical_id]["Type"], "", properties, {}, "CREATE_IN_PROGRESS"
                )
                state.resources[logical_id] = replace(pending, metadata=metadata)
                state.save(self.state_file)
                try:
                    state.resources[logical_id] = replace(
                        self._create(state, logical_id, properties), metadata=metadata
                    )
                except LifecycleError:
                    del state.resources[logical_id]
                    raise
            elif current.properties != properties:
                current.status = "UPDATE_IN_PROGRESS"
                state.save(self.state_file)
                updated = self._update(state, logical_id, current, properties)
                if updated.physical_id != current.physical_id:
                    replaced.append((logical_id, current))
                state.resources[logical_id] = replace(updated, status="UPDATE_COMPLETE", metadata=metadata)
            else:
                current.metadata = metadata
            state.save(self.state_file)
        # Cleanup phase: replaced and removed resources are deleted once the update succeeded.
        if not creating:
            state.status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
            state.save(self.state_file)
        for logical_id, old in replaced:
            self._clean_up(state, logical_id, old)
        for logical_id in [key for key in state.resources if key not in wanted]:
            state.resources[logical_id].status = "DELETE_IN_PROGRESS"
            state.save(self.state_file)
            self._clean_up(state, logical_id, state.resources[logical_id])
            del state.resources[logical_id]
        state.functions = {key: value for key, value in state.functions.items() if key in functions}
        state.outputs = {
            name: str(self._resolve(output["Value"], state))
            for name, output in self.stack.template.get("Outputs", {}).items()
        }

    def _clean_up(self, state: StackState, logical_id: str, old: ResourceState) -> None:
        """A Delete of the cleanup phase: one that fails is skipped, leaving what it should have deleted, and the
        update stands (CloudFormation's user guide: it tries, then skips the resource and goes on)."""
        try:
            self._delete(state, logical_id, old)
        except LifecycleError as failure:
            self.cleanup_failures.append(str(failure))

    def destroy(self) -> None:
        """Deletes every custom resource (in reverse order) and forgets the stack."""
        try:
            self._destroy()
        finally:
            self.settle()

    def _destroy(self) -> None:
        state = StackState.load(self.state_file)
        if state is None:
            return
        state.status = "DELETE_IN_PROGRESS"
        # CloudFormation describes a deleted stack's resources by the stack's id for 90 days more.
        gone: dict[str, ResourceState] = {}
        for logical_id in reversed(list(state.resources)):
            resource = state.resources[logical_id]
            resource.status = "DELETE_IN_PROGRESS"
            state.save(self.state_file)
            self._delete(state, logical_id, resource)
            gone[logical_id] = replace(
                resource, status="DELETE_SKIPPED" if self._retained(logical_id) else "DELETE_COMPLETE"
            )
            del state.resources[logical_id]
            state.save(self.state_file)
        self.state_file.unlink()
        self.deleted = replace(state, status="DELETE_COMPLETE", resources=gone)

    # --- one resource ---------------------------------------------------------------------

    def _create(self, state: StackState, logical_id: str, properties: dict[str, Any]) -> ResourceState:
        request = self._request("Create", state, logical_id, properties)
        invocation = self._await(self._deliver(request), self._cancels.pop(logical_id, None))
        if invocation is None:
            # Cancelled: a Delete of an id of CloudFormation's own while the Create goes on.
            self._roll_back(state, logical_id, properties, _own_physical_id(state, logical_id))
            raise LifecycleError(f"CREATE_FAILED {logical_id}: Resource creation cancelled")
        response = invocation.response
        if not invocation.succeeded:
            # Rollback: CloudFormation deletes what the failed Create reported, whatever that id is. Without one
            # (crhelper sends none when the invocation is about to time out), it says so and makes one of its own.
            reported = response.get("PhysicalResourceId")
            reason = response.get("Reason", "no reason given") if reported else "Invalid PhysicalResourceId"
            self._roll_back(state, logical_id, properties, reported or _own_physical_id(state, logical_id))
            raise LifecycleError(f"CREATE_FAILED {logical_id}: {reason}")
        return ResourceState(
            invocation.request["ResourceType"], response["PhysicalResourceId"], properties, response["Data"]
        )

    def _roll_back(self, state: StackState, logical_id: str, properties: dict[str, Any], physical_id: str) -> None:
        """The Delete of a Create that failed or was cancelled, the resource DELETE_IN_PROGRESS meanwhile."""
        resource_type = self.stack.resources[logical_id]["Type"]
        metadata = state.resources[logical_id].metadata if logical_id in state.resources else None
        failed = ResourceState(resource_type, physical_id, properties, status="DELETE_IN_PROGRESS", metadata=metadata)
        state.resources[logical_id] = failed
        state.save(self.state_file)
        self._delete(state, logical_id, failed)

    def _update(
        self, state: StackState, logical_id: str, current: ResourceState, properties: dict[str, Any]
    ) -> ResourceState:
        invocation = self.invoke(self._request("Update", state, logical_id, properties, current))
        response = invocation.response
        if not invocation.succeeded:
            raise LifecycleError(f"UPDATE_FAILED {logical_id}: {response.get('Reason', 'no reason given')}")
        return ResourceState(current.resource_type, response["PhysicalResourceId"], properties, response["Data"])

    def _retained(self, logical_id: str) -> bool:
        return bool(self.stack.resources.get(logical_id, {}).get("DeletionPolicy") == "Retain")

    def _delete(self, state: StackState, logical_id: str, current: ResourceState) -> None:
        if self._retained(logical_id):
            return
        invocation = self.invoke(self._request("Delete", state, logical_id, current.properties, current))
        if not invocation.succeeded:
            raise LifecycleError(f"DELETE_FAILED {logical_id}: {invocation.response.get('Reason', 'no reason given')}")

    # --- the protocol -----------------------------------------------------------------------

    def request(self, request_type: str, logical_id: str) -> dict[str, Any]:
        """The request CloudFormation would send now for `logical_id`, from the synthesized template and the stack's
        state (an Update or Delete names the resource's current physical id), with the resource in the status
        CloudFormation gives it while it waits for the answer (CREATE_IN_PROGRESS, ...): deliver it with `invoke`,
        once or more."""
        state = self.state()
        current = state.resources.get(logical_id)
        properties = current.properties if request_type == "Delete" and current else None
        request = self._request(
            request_type, state, logical_id, properties or self._resolve_properties(logical_id, state), current
        )
        waiting = f"{request_type.upper()}_IN_PROGRESS"
        if current is None:
            metadata = self._resolve(self.stack.resources[logical_id].get("Metadata"), state)
            current = ResourceState(request["ResourceType"], "", request["ResourceProperties"], metadata=metadata)
            state.resources[logical_id] = current
        current.status = waiting
        if not self.state_file.exists():
            state.status = "CREATE_IN_PROGRESS"
        state.save(self.state_file)
        return request

    def _request(
        self,
        request_type: str,
        state: StackState,
        logical_id: str,
        properties: Mapping[str, Any],
        current: ResourceState | None = None,
    ) -> dict[str, Any]:
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
            if request_type == "Update":
                request["OldResourceProperties"] = current.properties
        return request

    def invoke(self, request: Mapping[str, Any]) -> Invocation:
        """Delivers one request (again, if it was delivered before) and returns the answer CloudFormation takes."""
        invocation = self._await(self._deliver(request))
        assert invocation is not None
        return invocation

    def _deliver(self, request: Mapping[str, Any]) -> Delivery:
        """Starts an asynchronous invocation of the request's function with it, as CloudFormation does."""
        if self._responses is None:
            raise RuntimeError("OfflineCloudFormation serves ResponseURLs only inside its `with` block")
        found = self.lambda_function(request["ServiceToken"])
        if found is None:
            raise LifecycleError(f"ServiceToken {request['ServiceToken']} is not a Lambda function of this stack")
        function, arn = found
        response_url, signature = self._responses.new_url(request["RequestId"])
        before = len(self._responses.responses_for(request["RequestId"]))
        event = {**request, "ResponseURL": response_url}
        delivery = Delivery(dict(request), function, arn, event, signature, before)
        self._attempt(delivery)
        key = (request["RequestType"], request["LogicalResourceId"])
        with self._lock:
            if key in self._duplicates:
                self._duplicates.discard(key)
                self._later.append(replace(delivery, attempts=[], waited_for=False))
        return delivery

    def _attempt(self, delivery: Delivery) -> Future[Execution]:
        attempt = self._attempts.submit(self._run, delivery)
        delivery.attempts.append(attempt)
        return attempt

    def _run(self, delivery: Delivery) -> Execution:
        """One attempt, to its end: a timeout is a failed attempt, as Lambda counts it."""
        assert self._responses is not None
        try:
            return self.runtime.invoke(
                delivery.function,
                delivery.arn,
                delivery.event,
                # crhelper verifies the ResponseURL's certificate with the default context, which honours this.
                {"SSL_CERT_FILE": str(self._responses.ca_file)},
            )
        except InvocationTimeoutError as error:
            timeout = delivery.function.timeout_seconds
            message = f"Task timed out after {timeout:.2f} seconds"
            return Execution(error.output, {}, timeout, {"errorMessage": message})

    def _await(self, delivery: Delivery, cancel: Callable[[], bool] | None = None) -> Invocation | None:
        """Waits as CloudFormation waits: for the first answer to the request's URL, or, when an attempt ends without
        one, for Lambda's retry if it comes within the ServiceTimeout. None: `cancel` held first."""
        assert self._responses is not None
        request = delivery.request
        service_timeout = float(request["ResourceProperties"].get("ServiceTimeout", DEFAULT_SERVICE_TIMEOUT_SECONDS))
        while True:
            attempt = delivery.attempts[-1]
            while not attempt.done():
                answered = self._answer(delivery)
                if answered is not None:
                    return answered
                if cancel is not None and cancel():
                    self._after(delivery)
                    return None
                time.sleep(_POLL_SECONDS)
            execution = attempt.result()
            self._check_logs(delivery, execution)
            answered = self._answer(delivery)
            if answered is not None:
                self._after(delivery)
                return answered
            retry_age = delivery.retry_age(execution)
            if retry_age is not None and retry_age < service_timeout:
                delivery.age_seconds = retry_age
                self._attempt(delivery)
                continue
            self._after(delivery)
            last_line = execution.output.strip().splitlines()[-1] if execution.output.strip() else "no output"
            raise LifecycleError(
                f"{request['RequestType']} {request['LogicalResourceId']}: the handler sent no response "
                f"(CloudFormation would wait for the ServiceTimeout); it printed: {last_line}"
            )

    def _answer(self, delivery: Delivery) -> Invocation | None:
        """The first answer since the delivery, checked as CloudFormation checks it, once; None before one came."""
        assert self._responses is not None
        received = self._responses.responses_for(delivery.request["RequestId"])[delivery.answered_before :]
        if not received:
            return None
        _check_response(received[0].body, len(received[0].raw), delivery.request)
        invocation = Invocation(delivery.request, received[0].body, len(received[0].raw), delivery.attempts[-1])
        self.invocations.append(invocation)
        self._after(delivery)
        return invocation

    def _after(self, delivery: Delivery) -> None:
        """CloudFormation no longer waits for the delivery's answer: what Lambda still does with it comes later."""
        with self._lock:
            if delivery.waited_for:
                delivery.waited_for = False
                self._later.append(delivery)

    def _check_logs(self, delivery: Delivery, execution: Execution) -> None:
        if delivery.signature in execution.output:
            raise LifecycleError("The handler logged the ResponseURL's signature: the ResponseURL is a credential")

    def settle(self) -> None:
        """Lambda's deliveries of requests CloudFormation no longer waits for, a minute or more after their stack
        operation: the retries of every attempt that failed, as the event invoke config allows, and the duplicates
        `deliver_twice` asked for; each runs to its end, in turn. Every invocation has ended when this returns."""
        assert self._responses is not None
        while True:
            with self._lock:
                if not self._later:
                    return
                delivery = self._later.pop(0)
            if delivery.attempts:
                execution = delivery.attempts[-1].result()
                self._check_logs(delivery, execution)
                retry_age = delivery.retry_age(execution)
                if retry_age is None:
                    continue
                delivery.age_seconds = retry_age
            answered = len(self._responses.responses_for(delivery.request["RequestId"]))
            execution = self._attempt(delivery).result()
            self._check_logs(delivery, execution)
            received = self._responses.responses_for(delivery.request["RequestId"])[answered:]
            self.redeliveries.append((delivery, received[0].body if received else None))
            with self._lock:
                self._later.append(delivery)

    def lambda_function(self, name: str) -> tuple[LambdaFunction, str] | None:
        """The function of this stack with this name or ARN, as deployed (its environment resolved), and its ARN."""
        for logical_id in self.stack.of_type("AWS::Lambda::Function"):
            arn = self.function_arn(logical_id)
            if name in (arn, self.physical_name(logical_id)):
                function = self.stack.function(logical_id)
                environment = {key: str(value) for key, value in self.resolve(dict(function.environment)).items()}
                return replace(function, environment=environment, on_failure=self.resolve(function.on_failure)), arn
        for logical_id, deployed in self.state().functions.items():
            arn = self.function_arn(logical_id)
            if name in (arn, self.physical_name(logical_id)):
                return LambdaFunction(**{**deployed, "asset_dir": Path(deployed["asset_dir"])}), arn
        return None

    # --- what CloudFormation resolves -----------------------------------------------------------

    def _resolve_properties(self, logical_id: str, state: StackState) -> dict[str, Any]:
        resolved = self._resolve(self.stack.resources[logical_id].get("Properties", {}), state)
        return {key: _stringify(value) for key, value in resolved.items()}

    def resolve(self, node: Any) -> Any:
        """A template fragment with its intrinsic functions resolved against the stack as it stands, or as it stood
        when it was deleted: what its resources were deployed with (a role's policy naming the stack's id)."""
        return self._resolve(node, StackState.load(self.state_file) or self.deleted or self.state())

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
        if self.stack.resources.get(name, {}).get("Type") == "AWS::SNS::Topic":
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{self.physical_name(name)}"  # a topic's Ref is its ARN
        if name in self.stack.resources:
            return self.physical_name(name)
        raise LifecycleError(f"Ref to unknown {name}")

    def _get_att(self, target: str, attribute: str, state: StackState) -> str:
        if target in state.resources:
            data = state.resources[target].data
            if attribute not in data:
                raise LifecycleError(f"{target} returned no attribute {attribute} (it has {', '.join(data) or 'none'})")
            return data[attribute]
        resource_type = self.stack.resources.get(target, {}).get("Type", "")
        if attribute == "Arn" and resource_type == "AWS::Lambda::Function":
            return self.function_arn(target)
        if attribute == "Arn" and resource_type == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{self.physical_name(target)}"
        if attribute == "Arn" and resource_type == "AWS::Logs::LogGroup":
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{self.physical_name(target)}:*"
        if attribute == "Arn" and resource_type == "AWS::KMS::Key":
            # A key's ARN names its id, a UUID, which the handler checks for.
            key_id = uuid.uuid5(uuid.NAMESPACE_URL, self.physical_name(target))
            return f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{key_id}"
        if attribute == "Arn":
            service = resource_type.split("::")[1].lower()
            return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{self.physical_name(target)}"
        raise LifecycleError(f"Fn::GetAtt {target}.{attribute} is not supported by the offline runner")

    def physical_name(self, logical_id: str) -> str:
        """The name CloudFormation would generate: lower case and short enough for a bucket, stable per stack."""
        digest = hashlib.sha256(f"{self.stack.stack_name}/{logical_id}".encode()).hexdigest()[:12]
        return f"{self.stack.stack_name}-{logical_id}"[:48].lower() + f"-{digest}"

    def function_arn(self, logical_id: str) -> str:
        return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{self.physical_name(logical_id)}"


def _own_physical_id(state: StackState, logical_id: str) -> str:
    """A physical id of CloudFormation's own, as it makes one: STACK-LOGICALID-RANDOM."""
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    return f"{state.stack_name}-{logical_id}-{suffix}"


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
    # A FAILED answer without one fails the resource anyway: CloudFormation reports "Invalid PhysicalResourceId".
    if (not physical_id and body.get("Status") != "FAILED") or len(str(physical_id).encode()) > MAX_PHYSICAL_ID_BYTES:
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
