"""What the stack deployed, read back from CloudFormation when no request of CloudFormation's carries it: a
resource's status and, from the Metadata the construct wrote, its properties and path. And whether CloudFormation
still waits for the answer to a request it sent: Lambda may deliver a request again, long after it was answered."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .contract import Metadata

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployed:
    """A resource of the stack as CloudFormation describes it."""

    logical_id: str
    physical_id: str
    status: str
    properties: Mapping[str, Any]
    path: str  # the construct's, or its logical id where path metadata is off

    @property
    def going(self) -> bool:
        """Whether the resource is being deleted, or is gone: nothing should act for it any more."""
        return self.status.startswith("DELETE")

    @property
    def live(self) -> bool:
        """Whether the stack holds the resource under its physical id, made or being changed (not failed, not
        being deleted)."""
        in_progress = self.status in (_IN_PROGRESS["Create"], _IN_PROGRESS["Update"])
        return not self.going and (in_progress or self.status.endswith("_COMPLETE"))


# The status a resource has while CloudFormation waits for the answer to each kind of request.
_IN_PROGRESS = {"Create": "CREATE_IN_PROGRESS", "Update": "UPDATE_IN_PROGRESS", "Delete": "DELETE_IN_PROGRESS"}


class StaleRequestError(Exception):
    """A request CloudFormation no longer waits for: answered already, or given up on (a rollback followed)."""


def check_awaited(deployed: Deployed | None, request_type: str, logical_id: str, physical_id: str | None) -> None:
    """Raises StaleRequestError unless CloudFormation waits for the answer to this request now.

    A Create or an Update is awaited only while the resource is CREATE_IN_PROGRESS or UPDATE_IN_PROGRESS: Lambda
    redelivers an asynchronous invocation after an error or a timeout (crhelper has answered FAILED by then, and
    CloudFormation rolled back), and sometimes twice anyway, so a Create that comes back after its rollback would
    make an event action no stack owns, and an Update after its rollback would apply again what was undone. A
    Delete is refused only for a physical id the stack still holds live: a cleanup Delete names a replaced id the
    resource no longer has, a rollback's or a cancelled Create's an id of crhelper's or CloudFormation's, and a
    Delete of what is gone already deletes nothing."""
    if request_type == "Delete":
        stale = deployed is not None and deployed.physical_id == physical_id and deployed.live
    else:
        stale = deployed is None or deployed.status != _IN_PROGRESS[request_type]
    if stale:
        status = deployed.status if deployed is not None else "gone from the stack"
        raise StaleRequestError(
            f"the {request_type} of {logical_id} is no longer awaited: the resource is {status} (Lambda delivered the "
            "request again after CloudFormation had its answer or gave up on it)"
        )


def deployed_resource(cloudformation: CloudFormationClient, stack_id: str, logical_id: str) -> Deployed | None:
    """The resource, or None when its stack or the resource no longer exists (CloudFormation answers a
    ValidationError for both)."""
    try:
        detail = cloudformation.describe_stack_resource(StackName=stack_id, LogicalResourceId=logical_id)[
            "StackResourceDetail"
        ]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ValidationError":
            raise
        logger.info("%s of %s no longer exists: %s", logical_id, stack_id, error.response["Error"]["Message"])
        return None
    metadata = json.loads(detail.get("Metadata") or "{}")
    return Deployed(
        logical_id,
        detail.get("PhysicalResourceId", ""),
        detail["ResourceStatus"],
        metadata.get(Metadata.KEY, {}).get(Metadata.PROPERTIES, {}),
        metadata.get(Metadata.CDK_PATH, logical_id),
    )


# The statuses of a resource CloudFormation has done with: one in progress (a deploy under way) or failed is not
# what the stack deployed yet.
SETTLED = ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def settled_resources(cloudformation: CloudFormationClient, stack_id: str, resource_type: str) -> list[str]:
    """The logical ids of the stack's resources of `resource_type` that CloudFormation has done with, every page
    read."""
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_id)
    return [
        summary["LogicalResourceId"]
        for page in pages
        for summary in page["StackResourceSummaries"]
        if summary["ResourceType"] == resource_type and summary["ResourceStatus"] in SETTLED
    ]
