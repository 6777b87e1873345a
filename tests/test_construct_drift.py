"""The drift check and the repair on the CDK side: one scheduled rule per provider (a prop: daily, another schedule,
or none), its read-only permissions on the one stack, what the construct tells the handler (the ServiceToken in
Metadata, the Repair property of a repair deploy), `on_drift`, and a product's self-invocation for big products."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from support import DATA_SET, ENV, OTHER_DATA_SET, THIRD_DATA_SET, logical_id, statements

from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportEventActionProvider, AutoExportProduct
from cdk_dataexchange_auto_export.local.eventbridge import Rule
from dataexchange_auto_export_handler.contract import REPAIR_CONTEXT

PRODUCT = "prod-uexample0abc1d"


def schedules(template: Template) -> list[str]:
    rules = template.find_resources("AWS::Events::Rule").values()
    return [rule["Properties"]["ScheduleExpression"] for rule in rules if "ScheduleExpression" in rule["Properties"]]


def stack_reads(template: Template) -> list[Any]:
    return [s["Action"] for s in statements(template) if "cloudformation" in json.dumps(s["Action"])]


def test_one_drift_check_per_provider_however_many_constructs(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given three constructs on the shared provider and one on a provider of the user's own, checked hourly
    stack = cdk.Stack(new_cdk_app(), "Many", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    for name, data_set in (("A", DATA_SET), ("B", OTHER_DATA_SET), ("C", THIRD_DATA_SET)):
        AutoExportEventAction(stack, name, data_set_id=data_set, bucket=bucket)
    own = AutoExportEventActionProvider(stack, "Own", drift_check_schedule=events.Schedule.rate(cdk.Duration.hours(1)))
    AutoExportEventAction(stack, "D", data_set_id=DATA_SET, bucket=bucket, key_pattern="${Asset.Id}", provider=own)
    template = Template.from_stack(stack)

    assert sorted(schedules(template)) == ["rate(1 day)", "rate(1 hour)"]
    rules = template.find_resources("AWS::Events::Rule")
    for provider in (AutoExportEventActionProvider.of(stack), own):
        handler = logical_id(stack, provider.function)
        [(rule_id, rule)] = [
            (k, v) for k, v in rules.items() if v["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0] == handler
        ]
        # The handler's own stack and the ServiceToken of the resources it serves: nothing else to read
        assert rule["Properties"]["Targets"][0]["Input"] == {
            "Fn::Join": [
                "",
                [
                    '{"DriftCheck":{"StackId":"',
                    {"Ref": "AWS::StackId"},
                    '","ServiceToken":"',
                    {"Fn::GetAtt": [handler, "Arn"]},
                    '"}}',
                ],
            ]
        }
        assert rule_id.startswith(provider.node.id)
    # Each construct's Metadata names the provider that serves it, as its ServiceToken does
    for construct in stack.node.children:
        if isinstance(construct, AutoExportEventAction):
            resource = template.to_json()["Resources"][logical_id(stack, construct.resource)]
            metadata = resource["Metadata"]["cdk-dataexchange-auto-export"]["ResourceProperties"]
            assert metadata["ServiceToken"] == resource["Properties"]["ServiceToken"]


def test_the_check_may_read_its_own_stack_and_nothing_else(new_cdk_app: Callable[..., cdk.App]) -> None:
    stack = cdk.Stack(new_cdk_app(), "ReadOnly", env=ENV)
    AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"))
    template = Template.from_stack(stack)

    [reads] = [s for s in statements(template) if "cloudformation" in json.dumps(s["Action"])]
    assert reads["Action"] == ["cloudformation:ListStackResources", "cloudformation:DescribeStackResource"]
    assert reads["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudformation:eu-west-1:111111111111:stack/ReadOnly/*"]]
    }


def test_no_drift_check_adds_neither_rule_nor_permission(new_cdk_app: Callable[..., cdk.App]) -> None:
    stack = cdk.Stack(new_cdk_app(), "Unchecked", env=ENV)
    provider = AutoExportEventActionProvider(stack, "Quiet", drift_check_schedule=None)
    AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"), provider=provider)
    template = Template.from_stack(stack)

    assert schedules(template) == []
    # What every request reads (whether CloudFormation still waits for it), and no more
    assert stack_reads(template) == ["cloudformation:DescribeStackResource"]
    assert not [s for s in statements(template) if s["Action"] in ("dataexchange:ListDataSets", "events:PutEvents")]


def test_a_product_without_the_check_may_still_read_what_the_stack_deployed(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Followed", env=ENV)
    provider = AutoExportEventActionProvider(stack, "Quiet", drift_check_schedule=None)
    AutoExportProduct(stack, "Product", product_id=PRODUCT, bucket=s3.Bucket(stack, "Destination"), provider=provider)

    assert stack_reads(Template.from_stack(stack)) == ["cloudformation:DescribeStackResource"]


@pytest.mark.parametrize(
    ("entries", "repaired"),
    [("{A}@20261207T150003Z", {"A": "20261207T150003Z"}), ("{B}@1, {A}@2", {"A": "2", "B": "1"}), ("Nobody@3", {})],
    ids=["one", "two", "none-of-ours"],
)
def test_a_repair_deploy_gives_the_resources_it_names_a_repair_property_and_no_others(
    new_cdk_app: Callable[..., cdk.App], entries: str, repaired: dict[str, str]
) -> None:
    def build(context: dict[str, str]) -> tuple[cdk.Stack, dict[str, str]]:
        stack = cdk.Stack(new_cdk_app(context=context), "Repaired", env=ENV)
        bucket = s3.Bucket(stack, "Destination")
        constructs = {
            "A": AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket=bucket),
            "B": AutoExportEventAction(stack, "B", data_set_id=OTHER_DATA_SET, bucket=bucket),
            "C": AutoExportProduct(stack, "C", product_id=PRODUCT, bucket=bucket),
        }
        return stack, {name: logical_id(stack, construct.resource) for name, construct in constructs.items()}

    _, ids = build({})
    stack, _ = build({REPAIR_CONTEXT: entries.format(**ids)})
    resources = Template.from_stack(stack).to_json()["Resources"]

    found = {name: resources[ids[name]]["Properties"].get("Repair") for name in ids}
    assert {name: value for name, value in found.items() if value is not None} == repaired
    # What the stack deployed, as the handler reads it back, knows nothing of the repair
    assert all(
        "Repair" not in resources[ids[name]]["Metadata"]["cdk-dataexchange-auto-export"]["ResourceProperties"]
        for name in ids
    )


def drift_event(stack_id: str, logical: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "1",
        "detail-type": "Export Drift Detected",
        "source": "cdk-dataexchange-auto-export",
        "account": "111111111111",
        "time": "2026-12-07T15:00:00Z",
        "region": "eu-west-1",
        "resources": [stack_id],
        "detail": {
            "Drift": "EventActionDeleted",
            "StackId": stack_id,
            "LogicalResourceId": logical,
            "DataSetIds": [DATA_SET],
        },
    }


def test_on_drift_matches_the_reports_of_its_own_resource_only(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given two constructs on the same data set
    stack = cdk.Stack(new_cdk_app(), "Watched", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    mine = AutoExportEventAction(stack, "Mine", data_set_id=DATA_SET, bucket=bucket)
    AutoExportEventAction(stack, "Other", data_set_id=DATA_SET, bucket=bucket, key_pattern="${Asset.Id}")
    rule = mine.on_drift("Drift", event_pattern=events.EventPattern(region=["eu-west-1"]))
    pattern = stack.resolve(
        Template.from_stack(stack).to_json()["Resources"][logical_id(stack, rule)]["Properties"]["EventPattern"]
    )
    stack_id = "arn:aws:cloudformation:eu-west-1:111111111111:stack/Watched/1"
    resolved = json.loads(json.dumps(pattern).replace('{"Ref": "AWS::StackId"}', json.dumps(stack_id)))
    matcher = Rule("drift", resolved, [])

    assert matcher.matches(drift_event(stack_id, logical_id(stack, mine.resource)))
    assert not matcher.matches(drift_event(stack_id, logical_id(stack, stack.node.find_child("Other").resource)))
    assert not matcher.matches(
        drift_event("arn:aws:cloudformation:eu-west-1:111111111111:stack/Elsewhere/2", logical_id(stack, mine.resource))
    )
    assert not matcher.matches(
        {**drift_event(stack_id, logical_id(stack, mine.resource)), "detail-type": "Backfill Failed"}
    )


def test_a_product_may_invoke_its_handler_to_go_on_and_waits_for_that_permission(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Big", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    first = AutoExportProduct(stack, "First", product_id=PRODUCT, bucket=bucket)
    second = AutoExportProduct(stack, "Second", product_id="prod-zexample9xyz2e", bucket=bucket)
    template = Template.from_stack(stack)
    handler = logical_id(stack, AutoExportEventActionProvider.of(stack).function)

    policies = {k: v for k, v in template.find_resources("AWS::IAM::Policy").items() if "InvokeItself" in k}
    [(policy_id, policy)] = policies.items()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [handler, "Arn"]}}
    ]
    resources = template.to_json()["Resources"]
    for product in (first, second):
        assert policy_id in resources[logical_id(stack, product.resource)]["DependsOn"]
    assert first.data_set_count != first.event_action_count
