"""What the construct tests share: ids, the test environment, template helpers and the three-export stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from cdk_dataexchange_auto_export import AutoExportEventAction

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
OTHER_DATA_SET = "aaaaaaaaaabbbbbbbbbbcccccccccc12"
THIRD_DATA_SET = "0123456789abcdefABCDEF0123456789"
ACCOUNT = "111111111111"
REGION = "eu-west-1"
ENV = cdk.Environment(account=ACCOUNT, region=REGION)
PARTITION = {"Ref": "AWS::Partition"}


def only(resources: Mapping[str, Any]) -> tuple[str, Any]:
    """The logical id and body of the one resource in `resources`."""
    assert len(resources) == 1, f"expected one resource, got {sorted(resources)}"
    return next(iter(resources.items()))


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    """The logical id CloudFormation sees for an L2 construct's CfnResource."""
    default_child = construct.node.default_child
    assert isinstance(default_child, cdk.CfnResource)
    return str(stack.resolve(default_child.logical_id))


def statements(template: Template) -> list[dict[str, Any]]:
    """Every statement of every identity policy in the template (AWS::IAM::Policy and inline role policies)."""
    found: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        found += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in template.find_resources("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            found += inline["PolicyDocument"]["Statement"]
    return found


@dataclass
class ThreeExports:
    app: cdk.App
    stack: cdk.Stack
    bucket: s3.Bucket
    key: kms.Key
    full: AutoExportEventAction  # every prop given
    plain: AutoExportEventAction  # only the required props
    retained: AutoExportEventAction  # ${Asset.Id} key pattern, RETAIN
    template: Template


def build_three(new_cdk_app: Callable[..., cdk.App]) -> ThreeExports:
    """A stack with three constructs on one bucket: the shape most users will deploy."""
    app = new_cdk_app()
    stack = cdk.Stack(app, "Exports", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    key = kms.Key(stack, "ExportKey")
    full = AutoExportEventAction(
        stack,
        "AutoExport",
        data_set_id=DATA_SET,
        bucket=bucket,
        key_pattern="${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}",
        encryption_key=key,
        tags={"team": "market-data"},
    )
    plain = AutoExportEventAction(stack, "Plain", data_set_id=OTHER_DATA_SET, bucket=bucket)
    retained = AutoExportEventAction(
        stack,
        "Retained",
        data_set_id=THIRD_DATA_SET,
        bucket=bucket,
        key_pattern="${Revision.Id}/${Asset.Id}",
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    return ThreeExports(app, stack, bucket, key, full, plain, retained, Template.from_stack(stack))
