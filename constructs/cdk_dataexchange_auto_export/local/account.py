"""The one AWS account and Region everything offline pretends to run in."""

from __future__ import annotations

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return PARTITION
