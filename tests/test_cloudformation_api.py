"""CloudFormation's read API offline, as a function reads the stack it belongs to: by the stack's name or id, a
deleted stack by its id only, each resource's status and its Metadata resolved."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from support import DATA_SET, Runner, synthesized

from cdk_dataexchange_auto_export import AutoExportEventAction
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints.server import client


@pytest.fixture(scope="module")
def exporting(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    stack = cdk.Stack(new_cdk_app(), "Described")
    bucket = s3.Bucket(stack, "Destination")
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=bucket, removal_policy=cdk.RemovalPolicy.RETAIN)
    return synthesized(stack)


def cloudformation_client(aws: OfflineAws) -> Any:
    return client("cloudformation", aws.cloudformation_api.url)


def test_a_stack_is_described_by_name_and_id_with_its_resources_and_their_metadata_resolved(
    exporting: SynthesizedStack, aws: OfflineAws, cloudformation: Runner
) -> None:
    runner = cloudformation(exporting)
    runner.deploy()
    stack_id = runner.state().stack_id
    api = cloudformation_client(aws)

    for name in ("Described", stack_id):
        (stack,) = api.describe_stacks(StackName=name)["Stacks"]
        assert (stack["StackId"], stack["StackStatus"]) == (stack_id, "CREATE_COMPLETE")
    summaries = api.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
    assert {summary["LogicalResourceId"] for summary in summaries} == set(exporting.resources)
    (custom,) = [s for s in summaries if s["ResourceType"] == "Custom::DataExchangeEventAction"]
    detail = api.describe_stack_resource(StackName=stack_id, LogicalResourceId=custom["LogicalResourceId"])
    resource = detail["StackResourceDetail"]
    assert resource["PhysicalResourceId"] == runner.state().resources[custom["LogicalResourceId"]].physical_id
    # The bucket's Ref, resolved to its name as CloudFormation resolves Metadata
    metadata = json.loads(resource["Metadata"])["cdk-dataexchange-auto-export"]
    assert metadata["ResourceProperties"]["Bucket"] == runner.physical_name(exporting.of_type("AWS::S3::Bucket")[0])


def test_a_deleted_stack_is_described_only_by_its_id_and_its_resources_as_deleted_or_retained(
    exporting: SynthesizedStack, aws: OfflineAws, cloudformation: Runner
) -> None:
    runner = cloudformation(exporting)
    runner.deploy()
    stack_id = runner.state().stack_id
    runner.destroy()
    api = cloudformation_client(aws)

    (stack,) = api.describe_stacks(StackName=stack_id)["Stacks"]
    assert stack["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(api.exceptions.ClientError, match="Stack with id Described does not exist"):
        api.describe_stacks(StackName="Described")
    statuses = {
        s["ResourceType"]: s["ResourceStatus"]
        for s in api.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
    }
    assert statuses["Custom::DataExchangeEventAction"] == "DELETE_SKIPPED", "its removal policy is RETAIN"
    assert statuses["AWS::Lambda::Function"] == "DELETE_COMPLETE"


def test_an_unknown_resource_of_a_stack_is_a_validation_error(
    exporting: SynthesizedStack, aws: OfflineAws, cloudformation: Runner
) -> None:
    cloudformation(exporting).deploy()
    api = cloudformation_client(aws)

    with pytest.raises(api.exceptions.ClientError, match="Resource Nothing does not exist for stack Described"):
        api.describe_stack_resource(StackName="Described", LogicalResourceId="Nothing")
