"""AutoExportProduct as CloudFormation sees it: the custom resource, its checks at synth, the rules that follow the
product after the deploy, the permissions the reconcile needs, and the product-wide monitoring."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from moto.events.models import EventPattern
from support import ENV, GUIDE_DATA_SET, REGION, documented_event, logical_id, only, statements

from cdk_dataexchange_auto_export import AutoExportProduct, ExistingRevisions

PRODUCT = "prod-uexample0abc1d"
EVENT_ACTION_RESOURCE_TYPE = "Custom::DataExchangeProductAutoExport"


@dataclass
class Followed:
    stack: cdk.Stack
    product: AutoExportProduct
    template: Template


@pytest.fixture(scope="module")
def followed(new_cdk_app: Callable[..., cdk.App]) -> Followed:
    stack = cdk.Stack(new_cdk_app(), "Followed", env=ENV)
    topic = sns.Topic(stack, "Alerts")
    product = AutoExportProduct(
        stack,
        "Product",
        product_id=PRODUCT,
        bucket=s3.Bucket(stack, "Destination"),
        tags={"team": "market-data"},
        export_existing_revisions=ExistingRevisions.latest(3),
        alert_topic=topic,
        reconcile_schedule=events.Schedule.rate(cdk.Duration.hours(6)),
    )
    return Followed(stack, product, Template.from_stack(stack))


def test_the_custom_resource_carries_the_product_and_the_default_pattern(followed: Followed) -> None:
    _, resource = only(followed.template.find_resources(EVENT_ACTION_RESOURCE_TYPE))
    assert {key: value for key, value in resource["Properties"].items() if key not in ("ServiceToken", "Bucket")} == {
        "ServiceTimeout": "90",
        "ProductId": PRODUCT,
        "KeyPattern": "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}",
        "Tags": {"team": "market-data"},
        "ExportExistingRevisions": "3",
    }
    resource_id = logical_id(followed.stack, followed.product.resource)
    assert followed.stack.resolve(followed.product.data_set_ids) == {"Fn::GetAtt": [resource_id, "DataSetIds"]}
    assert followed.stack.resolve(followed.product.event_action_count) == {
        "Fn::GetAtt": [resource_id, "EventActionCount"]
    }
    assert followed.stack.resolve(followed.product.product_id) == {"Fn::GetAtt": [resource_id, "ProductId"]}


@pytest.mark.parametrize(
    ("props", "complaint"),
    [
        ({"product_id": "8d494cba5e4720172a1e69a6e1b8fed5"}, r"product_id '8d494cba5e4720172a1e69a6e1b8fed5' is not"),
        ({"product_id": "prod-"}, r"product_id 'prod-' is not a Data Exchange product id"),
        ({"product_id": None}, r"product_id None is not a Data Exchange product id"),
        (
            {"key_pattern": "${Revision.CreatedAt}/${Asset.Name}"},
            r"must contain \$\{DataSet.Name\} or \$\{DataSet.Id\}: .*overwrite each other's",
        ),
        ({"key_pattern": "${DataSet.Id}/data.csv"}, r"must contain \$\{Asset.Name\} or \$\{Asset.Id\}"),
    ],
    ids=["a-data-set-id", "prefix-only", "missing", "no-data-set-in-pattern", "no-asset-in-pattern"],
)
def test_a_bad_prop_fails_at_synth_naming_it(
    new_cdk_app: Callable[..., cdk.App], props: dict[str, Any], complaint: str
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Bad", env=ENV)
    with pytest.raises(ValueError, match=rf"Bad/Product: {complaint}" if "product_id" in props else complaint):
        AutoExportProduct(stack, "Product", bucket=s3.Bucket(stack, "Destination"), **{"product_id": PRODUCT, **props})


def test_rules_reconcile_on_the_products_event_and_on_the_schedule_after_the_resource(followed: Followed) -> None:
    resource_id = logical_id(followed.stack, followed.product.resource)
    rules = followed.template.find_resources("AWS::Events::Rule")
    published = only({k: v for k, v in rules.items() if "DataSetsPublished" in k})[1]
    scheduled = only({k: v for k, v in rules.items() if "Schedule" in k})[1]
    assert published["Properties"]["EventPattern"] == {
        "source": ["aws.dataexchange"],
        "detail-type": ["Data Sets Published To Product"],
        "resources": [PRODUCT],
    }
    assert scheduled["Properties"]["ScheduleExpression"] == "rate(6 hours)"
    for rule in (published, scheduled):
        assert rule["DependsOn"] == [resource_id]
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"]["Fn::GetAtt"][0].startswith("AutoExportEventActionProviderHandler")
        # The resource, and nothing of what it deployed: the handler reads that from the stack
        assert target["Input"] == {
            "Fn::Join": [
                "",
                [
                    '{"ProductReconcile":{"StackId":"',
                    {"Ref": "AWS::StackId"},
                    f'","LogicalResourceId":"{resource_id}"}}}}',
                ],
            ]
        }


def test_the_reconcile_may_list_data_sets_read_their_names_and_report(followed: Followed) -> None:
    found = statements(followed.template)
    assert {"Effect": "Allow", "Action": "dataexchange:ListDataSets", "Resource": "*"} in found
    assert {
        "Effect": "Allow",
        "Action": "dataexchange:GetDataSet",
        "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":dataexchange:{REGION}:*:data-sets/*"]]},
    } in found
    assert any(
        statement["Action"] == "events:PutEvents" and "event-bus/default" in json.dumps(statement["Resource"])
        for statement in found
    )


def ours(detail_type: str) -> dict[str, Any]:
    """An event the construct's handler or worker sends about the product, shaped as Data Exchange's."""
    return {**documented_event(detail_type, [GUIDE_DATA_SET], PRODUCT), "source": "cdk-dataexchange-auto-export"}


@pytest.mark.parametrize(
    ("event", "matched"),
    [
        (documented_event("Auto-export Job Failed", [GUIDE_DATA_SET], PRODUCT), True),
        (documented_event("Auto-Export job failed", [GUIDE_DATA_SET], PRODUCT), True),
        (documented_event("Auto-export Job Failed", [GUIDE_DATA_SET], "prod-zexample9xyz2e"), False),
        (documented_event("Auto-export Job Completed", [GUIDE_DATA_SET], PRODUCT), False),
        (ours("Product Reconcile Failed"), True),
        (ours("Backfill Failed"), True),
    ],
    ids=["export-failed", "guide-spelling", "other-product", "completed", "reconcile-failed", "backfill-failed"],
)
def test_the_alert_covers_every_failure_of_the_product(
    followed: Followed, event: dict[str, Any], matched: bool
) -> None:
    rules = followed.template.find_resources("AWS::Events::Rule")
    alert = only({k: v for k, v in rules.items() if "FailedExports" in k})[1]
    pattern = EventPattern.load(json.dumps(alert["Properties"]["EventPattern"]))
    assert pattern.matches_event(event) is matched  # type: ignore[arg-type]
