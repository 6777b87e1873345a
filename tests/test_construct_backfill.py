"""export_existing_revisions as CloudFormation sees it: the property, one worker per stack, its role, and the
provider's right to start it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from support import (
    ACCOUNT,
    DATA_SET,
    ENV,
    OTHER_DATA_SET,
    PARTITION,
    REGION,
    ThreeExports,
    compliant_bucket,
    logical_id,
    nag_app,
    needs_cdk_nag,
    only,
)

from cdk_dataexchange_auto_export import (
    EVENT_ACTION_RESOURCE_TYPE,
    AutoExportEventAction,
    AutoExportEventActionProvider,
    ExistingRevisions,
)
from cdk_dataexchange_auto_export.backfill_worker import BackfillWorker

EXPORT_JOBS = {"StringEquals": {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}}


@dataclass
class Backfilled:
    stack: cdk.Stack
    bucket: s3.Bucket
    key: kms.Key
    template: Template


@pytest.fixture(scope="module")
def backfilled(new_cdk_app: Callable[..., cdk.App]) -> Backfilled:
    """Two constructs asking for existing revisions (one with a key and ${DataSet.Name}), one not."""
    stack = cdk.Stack(new_cdk_app(), "Backfilled", env=ENV)
    bucket, key = s3.Bucket(stack, "Destination"), kms.Key(stack, "ExportKey")
    AutoExportEventAction(
        stack,
        "All",
        data_set_id=DATA_SET,
        bucket=bucket,
        key_pattern="${DataSet.Name}/${Asset.Name}",
        encryption_key=key,
        export_existing_revisions=ExistingRevisions.ALL,
    )
    AutoExportEventAction(
        stack,
        "Latest",
        data_set_id=OTHER_DATA_SET,
        bucket=bucket,
        export_existing_revisions=ExistingRevisions.latest(25),
    )
    AutoExportEventAction(stack, "None", data_set_id=DATA_SET, bucket=bucket, key_pattern="${Asset.Id}")
    return Backfilled(stack, bucket, key, Template.from_stack(stack))


def worker_of(backfilled: Backfilled) -> tuple[str, Any]:
    functions = backfilled.template.find_resources("AWS::Lambda::Function")
    return only({key: value for key, value in functions.items() if key.startswith("AutoExportBackfillWorker")})


def test_the_property_says_which_existing_revisions(backfilled: Backfilled) -> None:
    scopes = {
        resource["Properties"]["DataSetId"] + "/" + resource["Properties"].get("KeyPattern", "-"): resource[
            "Properties"
        ].get("ExportExistingRevisions")
        for resource in backfilled.template.find_resources(EVENT_ACTION_RESOURCE_TYPE).values()
    }
    assert scopes == {
        f"{DATA_SET}/${{DataSet.Name}}/${{Asset.Name}}": "ALL",
        f"{OTHER_DATA_SET}/-": "25",
        f"{DATA_SET}/${{Asset.Id}}": None,
    }


def test_one_worker_per_stack_runs_the_same_asset_for_fifteen_minutes_and_may_invoke_itself(
    backfilled: Backfilled,
) -> None:
    _, worker = worker_of(backfilled)
    handler = only(
        {k: v for k, v in backfilled.template.find_resources("AWS::Lambda::Function").items() if "Handler" in k}
    )[1]
    assert worker["Properties"]["Code"] == handler["Properties"]["Code"]
    assert {
        key: worker["Properties"][key]
        for key in ("Handler", "Runtime", "Architectures", "MemorySize", "Timeout", "RecursiveLoop")
    } == {
        "Handler": "dataexchange_auto_export_handler.worker.handler",
        "Runtime": "python3.14",
        "Architectures": ["arm64"],
        "MemorySize": 128,
        "Timeout": 900,
        # Its hand-overs are a chain of invocations of itself, which Lambda would stop at the 17th
        "RecursiveLoop": "Allow",
    }
    backfilled.template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 2})


def test_the_provider_may_start_the_worker_and_knows_its_name(backfilled: Backfilled) -> None:
    worker_id, _ = worker_of(backfilled)
    worker_arn = {"Fn::GetAtt": [worker_id, "Arn"]}
    backfilled.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "dataexchange_auto_export_handler.index.handler",
            "Environment": {"Variables": {"BACKFILL_FUNCTION": worker_arn}},
        },
    )
    policies = backfilled.template.find_resources("AWS::IAM::Policy")
    provider_statements = next(p for k, p in policies.items() if k.startswith("AutoExportEventActionProviderRole"))
    # aws_lambda's grant_invoke: the function, and its versions and aliases (it has none)
    versions = {"Fn::Join": ["", [worker_arn, ":*"]]}
    assert {
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": [worker_arn, versions],
    } in provider_statements["Properties"]["PolicyDocument"]["Statement"]


def test_the_workers_role_allows_exactly_what_export_jobs_need(backfilled: Backfilled) -> None:
    policies = backfilled.template.find_resources("AWS::IAM::Policy")
    default = next(p for k, p in policies.items() if k.startswith("AutoExportBackfillWorkerRoleDefaultPolicy"))
    unscoped = next(p for k, p in policies.items() if k.startswith("AutoExportBackfillWorkerRoleUnscopedReads"))
    assert unscoped["Properties"]["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "dataexchange:ListJobs", "Resource": "*"}
    ]
    statements = default["Properties"]["PolicyDocument"]["Statement"]

    def arn(service: str, resource: str, account: str = ACCOUNT) -> dict[str, Any]:
        return {"Fn::Join": ["", ["arn:", PARTITION, f":{service}:{REGION}:{account}:{resource}"]]}

    bucket_objects = {
        "Fn::Join": ["", [{"Fn::GetAtt": [logical_id(backfilled.stack, backfilled.bucket), "Arn"]}, "/*"]]
    }
    key = {"Fn::GetAtt": [logical_id(backfilled.stack, backfilled.key), "Arn"]}
    assert statements[1:] == [
        # The failure destination's grant, and the end event's
        {"Effect": "Allow", "Action": "events:PutEvents", "Resource": arn("events", "event-bus/default")},
        {
            "Effect": "Allow",
            "Action": ["dataexchange:CreateJob", "dataexchange:StartJob"],
            "Resource": arn("dataexchange", "jobs/*"),
            "Condition": EXPORT_JOBS,
        },
        {"Effect": "Allow", "Action": "dataexchange:GetJob", "Resource": arn("dataexchange", "jobs/*")},
        {
            "Effect": "Allow",
            "Action": ["dataexchange:GetEventAction", "dataexchange:TagResource"],
            "Resource": arn("dataexchange", "event-actions/*"),
        },
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": {"Fn::Join": ["", ["arn:", PARTITION, ":s3:::*aws-data-exchange*"]]},
            "Condition": {"ForAnyValue:StringEquals": {"aws:CalledVia": "dataexchange.amazonaws.com"}},
        },
        # Its own stack's status, by the stack's exact ARN (no wildcard)
        {"Effect": "Allow", "Action": "cloudformation:DescribeStacks", "Resource": {"Ref": "AWS::StackId"}},
        # For the first construct: its data set, bucket, ${DataSet.Name} and key
        {
            "Effect": "Allow",
            "Action": "dataexchange:ListDataSetRevisions",
            "Resource": arn("dataexchange", f"data-sets/{DATA_SET}", "*"),
        },
        {
            "Effect": "Allow",
            "Action": "dataexchange:GetRevision",
            "Resource": arn("dataexchange", f"data-sets/{DATA_SET}/revisions/*", "*"),
        },
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": bucket_objects},
        {
            "Effect": "Allow",
            "Action": "dataexchange:GetDataSet",
            "Resource": arn("dataexchange", f"data-sets/{DATA_SET}", "*"),
        },
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key},
        # For the second: its data set (the bucket's statement is already there)
        {
            "Effect": "Allow",
            "Action": "dataexchange:ListDataSetRevisions",
            "Resource": arn("dataexchange", f"data-sets/{OTHER_DATA_SET}", "*"),
        },
        {
            "Effect": "Allow",
            "Action": "dataexchange:GetRevision",
            "Resource": arn("dataexchange", f"data-sets/{OTHER_DATA_SET}/revisions/*", "*"),
        },
    ]
    invoke_itself = next(p for k, p in policies.items() if k.startswith("AutoExportBackfillWorkerInvokeItself"))
    worker_id, _ = worker_of(backfilled)
    assert invoke_itself["Properties"]["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": [worker_id, "Arn"]}}
    ]


def test_without_existing_revisions_there_is_no_worker(three: ThreeExports) -> None:
    assert BackfillWorker.ID not in [child.node.id for child in three.stack.node.children]
    assert AutoExportEventActionProvider.of(three.stack).backfill_function is None
    assert not [
        r
        for r in three.template.find_resources(EVENT_ACTION_RESOURCE_TYPE).values()
        if "ExportExistingRevisions" in r["Properties"]
    ]


@pytest.mark.parametrize("count", [0, 10_001, 2.5, -3])
def test_latest_takes_a_whole_number_from_1_to_10000(count: float) -> None:
    with pytest.raises(
        ValueError, match=rf"ExistingRevisions.latest\({count!r}\): expected a whole number from 1 to 10000"
    ):
        ExistingRevisions.latest(count)


@needs_cdk_nag
def test_cdk_nag_finds_nothing_unacknowledged_with_a_worker(new_cdk_app: Callable[..., cdk.App]) -> None:
    app = nag_app(new_cdk_app)
    stack = cdk.Stack(app, "Nagged", env=ENV)
    AutoExportEventAction(
        stack,
        "Export",
        data_set_id=DATA_SET,
        bucket=compliant_bucket(stack),
        key_pattern="${DataSet.Name}/${Asset.Name}",
        encryption_key=kms.Key(stack, "ExportKey", enable_key_rotation=True),
        export_existing_revisions=ExistingRevisions.ALL,
    )
    app.synth()


def test_each_choice_of_existing_revisions_reads_as_written() -> None:
    # What a person sees of a prop in a debugger, a log line or a test failure
    choices = [ExistingRevisions.NONE, ExistingRevisions.ALL, ExistingRevisions.latest(25)]

    assert [repr(choice) for choice in choices] == [
        "ExistingRevisions(NONE)",
        "ExistingRevisions(ALL)",
        "ExistingRevisions(25)",
    ]


def test_latest_takes_both_ends_and_a_parameter_as_deployed() -> None:
    stack = cdk.Stack()
    count = cdk.CfnParameter(stack, "Count", type="Number").value_as_number

    chosen = [ExistingRevisions.latest(1), ExistingRevisions.latest(10_000.0), ExistingRevisions.latest(count)]

    assert [stack.resolve(choice.value) for choice in chosen] == ["1", "10000", {"Ref": "Count"}]
