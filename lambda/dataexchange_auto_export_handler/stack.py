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
    path: str  # the construct's, or its logical id where path metadata is off

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
    metadata = json.loads(detail.get("Metadata") or "{}")
    return Deployed(
        logical_id,
        detail.get("PhysicalResourceId", ""),
        detail["ResourceStatus"],
        metadata.get(Metadata.KEY, {}).get(Metadata.PROPERTIES, {}),
        metadata.get(Metadata.CDK_PATH, logical_id),
    )
