"""CloudFormation's read API for the stacks served offline: DescribeStacks, ListStackResources and
DescribeStackResource, as a function in a stack calls them to read the stack it belongs to.

Written from the CloudFormation API reference: a stack is named by its name or its id (a deleted stack only by
its id, with status DELETE_COMPLETE; by its name it "does not exist", a ValidationError); ListStackResources
pages 100 summaries at a time; DescribeStackResource answers the resource's Metadata attribute as a JSON string,
with its intrinsic functions resolved ("Metadata attribute" in the user guide). A resource still being created is
listed with CREATE_IN_PROGRESS. Each call is authorized on the stack's ARN (the Service Authorization Reference:
these actions take the `stack` resource).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .cloudformation import OfflineCloudFormation, ResourceState, StackState, is_custom_resource
from .endpoints.protocol import Operation, Request, ServiceError
from .endpoints.server import LocalEndpoint

PAGE = 100
# Resources CloudFormation describes that are not custom resources have no state here: they count as done when
# the stack is in progress, and as deleted with the stack.
_SETTLED = {"CREATE_IN_PROGRESS": "CREATE_COMPLETE", "UPDATE_IN_PROGRESS": "UPDATE_COMPLETE"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class LocalCloudFormation(LocalEndpoint):
    def __init__(self) -> None:
        operations: dict[str, Operation] = {
            "DescribeStacks": self._describe_stacks,
            "ListStackResources": self._list_stack_resources,
            "DescribeStackResource": self._describe_stack_resource,
        }
        super().__init__("cloudformation", operations)
        # Stack name -> its runner: a runner made again for a stack replaces the one before it.
        self._stacks: dict[str, OfflineCloudFormation] = {}

    def serve(self, cloudformation: OfflineCloudFormation) -> None:
        with self.lock:
            self._stacks[cloudformation.stack.stack_name] = cloudformation

    def _stack(self, name: str, request: Request, action: str) -> tuple[OfflineCloudFormation, StackState]:
        """The stack a call names, by name or id, authorized on its ARN."""
        for runner in self._stacks.values():
            state = StackState.load(runner.state_file)
            if state is not None and name in (state.stack_id, state.stack_name):
                request.authorize(action, state.stack_id)
                return runner, state
            if runner.deleted is not None and name == runner.deleted.stack_id:
                request.authorize(action, runner.deleted.stack_id)
                return runner, runner.deleted
        raise ServiceError("ValidationError", f"Stack with id {name} does not exist")

    def _describe_stacks(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        if "StackName" not in params:
            raise ServiceError("ValidationError", "Describing every stack of the account is not served offline")
        _, state = self._stack(params["StackName"], request, "cloudformation:DescribeStacks")
        stack = {
            "StackId": state.stack_id,
            "StackName": state.stack_name,
            "CreationTime": _now(),
            "StackStatus": state.status,
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in state.outputs.items()],
        }
        return {"Stacks": [stack]}

    def _list_stack_resources(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        runner, state = self._stack(params["StackName"], request, "cloudformation:ListStackResources")
        summaries = list(_resources(runner, state))
        start = int(params.get("NextToken") or 0)
        page: dict[str, Any] = {"StackResourceSummaries": summaries[start : start + PAGE]}
        if start + PAGE < len(summaries):
            page["NextToken"] = str(start + PAGE)
        return page

    def _describe_stack_resource(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        runner, state = self._stack(params["StackName"], request, "cloudformation:DescribeStackResource")
        logical_id = params["LogicalResourceId"]
        for summary in _resources(runner, state):
            if summary["LogicalResourceId"] == logical_id:
                resource = state.resources.get(logical_id)
                template = runner.stack.resources.get(logical_id, {})
                metadata = resource.metadata if resource else runner.resolve(template.get("Metadata"))
                detail = {**summary, "StackId": state.stack_id, "StackName": state.stack_name}
                if metadata is not None:
                    detail["Metadata"] = json.dumps(metadata)
                return {"StackResourceDetail": detail}
        raise ServiceError("ValidationError", f"Resource {logical_id} does not exist for stack {state.stack_name}")


def _resources(runner: OfflineCloudFormation, state: StackState) -> Iterator[dict[str, Any]]:
    """Each resource of the stack as ListStackResources summarizes it: a custom resource as its state says (none
    before its Create starts), any other as the stack's status has it."""
    settled = _SETTLED.get(state.status, state.status)
    # The template's, and custom resources an update removed whose cleanup Delete has not run yet.
    types = {key: resource["Type"] for key, resource in runner.stack.resources.items()}
    types.update({key: resource.resource_type for key, resource in state.resources.items()})
    for logical_id, resource_type in types.items():
        custom: ResourceState | None = state.resources.get(logical_id)
        if is_custom_resource(resource_type) and custom is None:
            continue
        yield {
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": custom.physical_id if custom else runner.physical_name(logical_id),
            "ResourceType": resource_type,
            "LastUpdatedTimestamp": _now(),
            "ResourceStatus": custom.status if custom else settled,
        }
