"""What the stack deployed, read back from CloudFormation when no request of CloudFormation's carries it: a
resource's status and, from the Metadata the construct wrote, its properties and path."""

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
    path: str

    @property
    def going(self) -> bool:
        """Whether the resource is being deleted, or is gone: nothing should act for it any more."""
        return self.status.startswith("DELETE")


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
    ours = json.loads(detail.get("Metadata") or "{}").get(Metadata.KEY, {})
    return Deployed(
        logical_id,
        detail.get("PhysicalResourceId", ""),
        detail["ResourceStatus"],
        ours.get(Metadata.PROPERTIES, {}),
        ours.get(Metadata.PATH, logical_id),
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
