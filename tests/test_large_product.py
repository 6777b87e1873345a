"""A product of any size, through CloudFormation's protocol at the service's pace (the stand-in answers each call in
250 ms): the Create answers well within the handler's 60 s and CloudFormation's 90 s ServiceTimeout, in at most
CloudFormation's 4,096 bytes with attributes that still say what was done; what did not fit goes on at once in
invocations of its own, which report it like any reconcile. One Lambda-like runtime: these run for a minute, and
the other runtime's differences are the other lifecycle tests' to find."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from support import Runner, synthesized

from cdk_dataexchange_auto_export import AutoExportProduct
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint
from cdk_dataexchange_auto_export.local.response_server import MAX_RESPONSE_BYTES
from dataexchange_auto_export_handler.contract import PRODUCT_ID_TAG
from tools.toolchain import LAMBDA_PYTHON

PRODUCT = "prod-uexample0abc1d"
# The service's pace, and an account whose quota Service Quotas raised for a product of a thousand data sets.
AT_THE_SERVICES_PACE = {"latency": 0.25, "quotas": {"Event actions per account": 1_100}}


@pytest.fixture(scope="module")
def lambda_python() -> Path:
    return LAMBDA_PYTHON


@pytest.fixture(scope="module")
def big(new_cdk_app: Callable[..., cdk.App]) -> SynthesizedStack:
    stack = cdk.Stack(new_cdk_app(), "Big")
    product = AutoExportProduct(stack, "Product", product_id=PRODUCT, bucket=s3.Bucket(stack, "Destination"))
    for name, value in (
        ("DataSetIds", product.data_set_ids),
        ("EventActionCount", product.event_action_count),
        ("DataSetCount", product.data_set_count),
    ):
        cdk.CfnOutput(stack, name, value=value)
    return synthesized(stack)


def owned(endpoint: DataExchangeEndpoint) -> dict[str, int]:
    found: dict[str, int] = {}
    for item in endpoint.event_actions():
        if item["Tags"].get(PRODUCT_ID_TAG) == PRODUCT:
            data_set = item["Event"]["RevisionPublished"]["DataSetId"]
            found[data_set] = found.get(data_set, 0) + 1
    return found


def ours(aws: OfflineAws, detail_type: str) -> list[dict[str, Any]]:
    return [event["detail"] for event in aws.bus.events if event["detail-type"] == detail_type]


@pytest.mark.parametrize("endpoint", [AT_THE_SERVICES_PACE], indirect=True, ids=["250ms"])
@pytest.mark.parametrize("size", [1, 150, 1_000])
def test_a_product_of_any_size_deploys_at_the_services_pace_within_the_response_limit(
    big: SynthesizedStack, aws: OfflineAws, endpoint: DataExchangeEndpoint, cloudformation: Runner, size: int
) -> None:
    data_sets = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(size)]
    runner = cloudformation(big)

    outputs = runner.deploy()
    [create] = runner.invocations
    aws.lambda_.wait()

    # The Create answered well within the handler's timeout, in a response CloudFormation takes
    assert create.succeeded and create.response_bytes <= MAX_RESPONSE_BYTES
    # (within half the timeout: a third of it for making event actions, the rest for the calls under way)
    assert create.execution.seconds < 30
    # ...with attributes that say what was done: the data sets the product has, those exported when it answered,
    # and as many of their ids as fit, the first of them
    done = int(outputs["EventActionCount"])
    assert outputs["DataSetCount"] == str(size)
    listed = outputs["DataSetIds"].split(",")
    assert listed == data_sets[: len(listed)]
    # All of them, or as many as fit 2,048 bytes
    beyond = len(outputs["DataSetIds"]) + 1 + len(data_sets[len(listed)]) if len(listed) < done else 0
    assert len(outputs["DataSetIds"]) <= 2_048 < beyond or len(listed) == done
    # And every data set has its event action, once, soon after: what the Create left went on at once
    assert owned(endpoint) == dict.fromkeys(data_sets, 1)
    continued = ours(aws, "Product Data Sets Added")
    assert sorted(data_set for detail in continued for data_set in detail["Added"]) == sorted(data_sets[done:])
    assert all(detail["Pending"] == 0 for detail in continued[-1:])
    # ...which is the Create's own work, not drift
    assert ours(aws, "Export Drift Detected") == []
