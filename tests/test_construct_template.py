"""AutoExportEventAction as CloudFormation sees it: resources, properties, permissions, dependencies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from support import (
    ACCOUNT,
    DATA_SET,
    ENV,
    OTHER_DATA_SET,
    PARTITION,
    REGION,
    THIRD_DATA_SET,
    ThreeExports,
    logical_id,
    only,
    statements,
)

from cdk_dataexchange_auto_export import (
    EVENT_ACTION_RESOURCE_TYPE,
    AutoExportEventAction,
    AutoExportEventActionProvider,
)


@pytest.fixture(scope="module")
def minimal(new_cdk_app: Callable[..., cdk.App]) -> tuple[cdk.Stack, Template]:
    """One construct with only the required props."""
    app = new_cdk_app()
    stack = cdk.Stack(app, "Minimal", env=ENV)
    AutoExportEventAction(stack, "AutoExport", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"))
    return stack, Template.from_stack(stack)


def test_the_custom_resource_carries_every_given_property(three: ThreeExports) -> None:
    three.template.has_resource(
        EVENT_ACTION_RESOURCE_TYPE,
        {
            "Properties": {
                "ServiceToken": {
                    "Fn::GetAtt": [Match.string_like_regexp("^AutoExportEventActionProviderHandler"), "Arn"]
                },
                "ServiceTimeout": "90",
                "DataSetId": DATA_SET,
                "Bucket": {"Ref": logical_id(three.stack, three.bucket)},
                "KeyPattern": "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}",
                "KmsKeyArn": {"Fn::GetAtt": [logical_id(three.stack, three.key), "Arn"]},
                "Tags": {"team": "market-data"},
                "AdoptExisting": "true",
            },
        },
    )


def test_optional_properties_are_absent_when_not_given(three: ThreeExports) -> None:
    # Given the construct with only data_set_id and bucket
    _, plain = only(
        three.template.find_resources(EVENT_ACTION_RESOURCE_TYPE, {"Properties": {"DataSetId": OTHER_DATA_SET}})
    )
    # Then the handler receives no KeyPattern, KmsKeyArn, Tags or AdoptExisting (it applies the defaults)
    assert set(plain["Properties"]) == {"ServiceToken", "ServiceTimeout", "DataSetId", "Bucket"}


def test_service_timeout_is_just_above_the_function_timeout(three: ThreeExports) -> None:
    _, function = only(three.template.find_resources("AWS::Lambda::Function"))
    function_timeout = function["Properties"]["Timeout"]
    assert function_timeout == 60
    for resource in three.template.find_resources(EVENT_ACTION_RESOURCE_TYPE).values():
        service_timeout = int(resource["Properties"]["ServiceTimeout"])
        assert service_timeout == 90
        # A handler that dies unanswered fails the stack within half a minute of its own timeout, not an hour.
        assert function_timeout < service_timeout <= function_timeout + 60


def test_the_custom_resource_is_the_primary_child(three: ThreeExports) -> None:
    assert three.full.node.default_child is three.full.resource
    assert three.full.resource.node.id == "Resource"
    # So its logical id is the construct's own, without a "Resource" suffix.
    assert re.fullmatch(r"AutoExport[0-9A-F]{8}", logical_id(three.stack, three.full.resource))


def test_one_function_serves_three_constructs(three: ThreeExports) -> None:
    three.template.resource_count_is(EVENT_ACTION_RESOURCE_TYPE, 3)
    three.template.resource_count_is("AWS::Lambda::Function", 1)
    three.template.resource_count_is("AWS::IAM::Role", 1)
    # The role's default policy, and its unscoped reads (cdk-nag acknowledges "*" on that policy alone)
    three.template.resource_count_is("AWS::IAM::Policy", 2)
    three.template.resource_count_is("AWS::Logs::LogGroup", 1)
    function_id, _ = only(three.template.find_resources("AWS::Lambda::Function"))
    tokens = {
        json.dumps(r["Properties"]["ServiceToken"])
        for r in three.template.find_resources(EVENT_ACTION_RESOURCE_TYPE).values()
    }
    assert tokens == {json.dumps({"Fn::GetAtt": [function_id, "Arn"]})}
    assert AutoExportEventActionProvider.of(three.plain) is AutoExportEventActionProvider.of(three.full)


def test_each_stack_gets_its_own_function(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given two stacks in one app, each with two constructs
    app = new_cdk_app()
    stacks = [cdk.Stack(app, name, env=ENV) for name in ("First", "Second")]
    for stack in stacks:
        bucket = s3.Bucket(stack, "Destination")
        AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket=bucket)
        AutoExportEventAction(stack, "B", data_set_id=OTHER_DATA_SET, bucket=bucket)
    # Then each stack holds one function, role and log group, used by its own custom resources
    for stack in stacks:
        template = Template.from_stack(stack)
        template.resource_count_is(EVENT_ACTION_RESOURCE_TYPE, 2)
        template.resource_count_is("AWS::Lambda::Function", 1)
        template.resource_count_is("AWS::IAM::Role", 1)
        template.resource_count_is("AWS::Logs::LogGroup", 1)


def newest_python_runtime() -> lambda_.Runtime:
    versions = {
        tuple(int(part) for part in match.groups()): name
        for name in dir(lambda_.Runtime)
        if (match := re.fullmatch(r"PYTHON_(\d+)_(\d+)", name))
    }
    return getattr(lambda_.Runtime, versions[max(versions)])  # type: ignore[no-any-return]


def test_the_function_runs_the_newest_python_on_arm64(three: ThreeExports) -> None:
    newest = newest_python_runtime()
    assert newest.name == "python3.14"  # what aws-cdk-lib 2.275.0 offers; a newer pin makes this fail on purpose
    three.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": newest.name,
            "Architectures": ["arm64"],
            "MemorySize": 128,
            "Timeout": 60,
            "Handler": "dataexchange_auto_export_handler.index.handler",
        },
    )


def test_the_function_logs_to_its_own_log_group_with_a_retention(three: ThreeExports) -> None:
    log_group_id, log_group = only(three.template.find_resources("AWS::Logs::LogGroup"))
    assert log_group["Properties"]["RetentionInDays"] == 30
    three.template.has_resource_properties(
        "AWS::Lambda::Function", {"LoggingConfig": {"LogGroup": {"Ref": log_group_id}}}
    )


def default_policy(template: Template) -> dict[str, Any]:
    """The handler role's default policy, where the construct's statements go."""
    policies = template.find_resources("AWS::IAM::Policy")
    return only({key: policy for key, policy in policies.items() if "RoleDefaultPolicy" in key})[1]  # type: ignore[no-any-return]


def test_the_role_may_do_exactly_what_the_handler_needs(minimal: tuple[cdk.Stack, Template]) -> None:
    _, template = minimal
    log_group_id, _ = only(template.find_resources("AWS::Logs::LogGroup"))
    role_id, _ = only(template.find_resources("AWS::IAM::Role"))
    policies = template.find_resources("AWS::IAM::Policy")
    assert [policy["Properties"]["Roles"] for policy in policies.values()] == [[{"Ref": role_id}]] * 2
    assert default_policy(template)["Properties"]["PolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
            },
            {
                "Effect": "Allow",
                "Action": [
                    "dataexchange:CreateEventAction",
                    "dataexchange:GetEventAction",
                    "dataexchange:UpdateEventAction",
                    "dataexchange:DeleteEventAction",
                    "dataexchange:TagResource",
                    "dataexchange:UntagResource",
                ],
                "Resource": {
                    "Fn::Join": ["", ["arn:", PARTITION, f":dataexchange:{REGION}:{ACCOUNT}:event-actions/*"]]
                },
            },
            # Whatever key a construct removed in an update used: its Delete runs after its key's statement left.
            {
                "Effect": "Allow",
                "Action": "kms:RevokeGrant",
                "Resource": {"Fn::Join": ["", ["arn:", PARTITION, f":kms:{REGION}:{ACCOUNT}:key/*"]]},
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            # Whether CloudFormation still waits for a request (its resource's status), and the daily drift check:
            # this one stack, read only
            {
                "Effect": "Allow",
                "Action": ["cloudformation:ListStackResources", "cloudformation:DescribeStackResource"],
                "Resource": {
                    "Fn::Join": ["", ["arn:", PARTITION, f":cloudformation:{REGION}:{ACCOUNT}:stack/Minimal/*"]]
                },
            },
            {
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": {"Fn::Join": ["", ["arn:", PARTITION, f":events:{REGION}:{ACCOUNT}:event-bus/default"]]},
            },
        ],
    }
    # ListEventActions and ListDataSets (the drift check's entitlements) support no resource-level permissions:
    # alone in a policy of their own
    unscoped = only({key: policy for key, policy in policies.items() if "UnscopedReads" in key})[1]
    assert unscoped["Properties"]["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "dataexchange:ListEventActions", "Resource": "*"},
        {"Effect": "Allow", "Action": "dataexchange:ListDataSets", "Resource": "*"},
    ]


def test_a_key_and_a_data_set_name_in_the_pattern_add_exactly_their_statements(three: ThreeExports) -> None:
    added = default_policy(three.template)["Properties"]["PolicyDocument"]["Statement"][5:]
    # The key of `full` (once, though one construct uses it: revoking is allowed on every key of the account
    # already), and GetDataSet only for the data set whose pattern names ${DataSet.Name}: not for `plain` (no
    # pattern) nor `retained` (${Asset.Id} only).
    assert added == [
        {
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": {"Fn::GetAtt": [logical_id(three.stack, three.key), "Arn"]},
            # Only for the grant Data Exchange takes on the caller's behalf, never one of the handler's own.
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Effect": "Allow",
            "Action": "dataexchange:GetDataSet",
            "Resource": {"Fn::Join": ["", ["arn:", PARTITION, f":dataexchange:{REGION}:*:data-sets/{DATA_SET}"]]},
        },
    ]


def test_the_same_key_twice_is_granted_once(new_cdk_app: Callable[..., cdk.App]) -> None:
    app = new_cdk_app()
    stack = cdk.Stack(app, "TwoOnOneKey", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    key = kms.Key(stack, "ExportKey")
    for name, data_set in (("A", DATA_SET), ("B", OTHER_DATA_SET)):
        AutoExportEventAction(stack, name, data_set_id=data_set, bucket=bucket, encryption_key=key)
    create_grant = [s for s in statements(Template.from_stack(stack)) if s["Action"] == "kms:CreateGrant"]
    assert len(create_grant) == 1


def test_only_the_list_actions_are_allowed_on_every_resource(
    three: ThreeExports, minimal: tuple[cdk.Stack, Template]
) -> None:
    for template in (three.template, minimal[1]):
        wildcard = [s for s in statements(template) if s["Resource"] == "*" or "*" in s.get("Resource", [])]
        assert wildcard == [
            {"Effect": "Allow", "Action": "dataexchange:ListEventActions", "Resource": "*"},
            {"Effect": "Allow", "Action": "dataexchange:ListDataSets", "Resource": "*"},
        ]


def test_the_role_has_no_managed_policies(three: ThreeExports) -> None:
    _, role = only(three.template.find_resources("AWS::IAM::Role"))
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]
    three.template.resource_count_is("AWS::IAM::ManagedPolicy", 0)


def test_a_bucket_of_the_same_app_lets_data_exchange_write(three: ThreeExports) -> None:
    bucket_id = logical_id(three.stack, three.bucket)
    _, bucket_policy = only(three.template.find_resources("AWS::S3::BucketPolicy"))
    assert bucket_policy["Properties"]["Bucket"] == {"Ref": bucket_id}
    # Three constructs on one bucket: CDK merges the identical statements into one.
    assert bucket_policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "dataexchange.amazonaws.com"},
            "Action": ["s3:PutObject", "s3:PutObjectAcl"],
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]


def test_the_event_action_depends_on_the_bucket_policy_and_its_role_policy(three: ThreeExports) -> None:
    bucket_policy_id, _ = only(three.template.find_resources("AWS::S3::BucketPolicy"))
    function_id, function = only(three.template.find_resources("AWS::Lambda::Function"))
    # The role's policies through the ServiceToken: CloudFormation waits for the function, which waits for them.
    assert set(three.template.find_resources("AWS::IAM::Policy")) <= set(function["DependsOn"])
    for resource in three.template.find_resources(EVENT_ACTION_RESOURCE_TYPE).values():
        assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert resource["DependsOn"] == [bucket_policy_id]


def test_a_bucket_in_another_stack_gets_the_statement_there(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given the bucket in a storage stack and the construct in another stack of the same app
    app = new_cdk_app()
    storage = cdk.Stack(app, "Storage", env=ENV)
    bucket = s3.Bucket(storage, "Destination")
    exports = cdk.Stack(app, "Exports", env=ENV)
    AutoExportEventAction(exports, "AutoExport", data_set_id=DATA_SET, bucket=bucket)
    # Then the storage stack holds the statement and deploys first
    Template.from_stack(storage).has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "dataexchange.amazonaws.com"}})]
            }
        },
    )
    assert storage in exports.dependencies
    Annotations.from_stack(exports).has_no_warning("*", Match.string_like_regexp("is imported"))


def test_an_imported_bucket_gets_one_warning_with_the_statement_to_add(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given a bucket imported by name, and two constructs exporting to it
    app = new_cdk_app()
    stack = cdk.Stack(app, "Imported", env=ENV)
    bucket = s3.Bucket.from_bucket_name(stack, "Destination", "existing-bucket")
    AutoExportEventAction(stack, "AutoExport", data_set_id=DATA_SET, bucket=bucket)
    AutoExportEventAction(stack, "Another", data_set_id=OTHER_DATA_SET, bucket=bucket)
    # When synthesized
    annotations = Annotations.from_stack(stack)
    # Then one warning on the bucket names it, both constructs and the exact statement, and nothing fails
    annotations.has_no_error("*", Match.any_value())
    (warning,) = annotations.find_warning("*", Match.any_value())
    assert warning.id == "/Imported/Destination"
    message = str(warning.entry.data)
    assert "Bucket existing-bucket is imported" in message
    assert "the event actions of Imported/AutoExport, Imported/Another fail with InsufficientS3BucketPolicy" in message
    statement, _ = json.JSONDecoder().raw_decode(message[message.index("{") :])
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "dataexchange.amazonaws.com"},
        "Action": ["s3:PutObject", "s3:PutObjectAcl"],
        "Resource": "arn:aws:s3:::existing-bucket/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::S3::BucketPolicy", 0)
    template.has_resource_properties(EVENT_ACTION_RESOURCE_TYPE, {"Bucket": "existing-bucket"})


def test_the_attributes_resolve_to_the_custom_resource(three: ThreeExports) -> None:
    resource_id = logical_id(three.stack, three.full.resource)
    assert three.stack.resolve(three.full.event_action_arn) == {"Fn::GetAtt": [resource_id, "Arn"]}
    assert three.stack.resolve(three.full.event_action_id) == {"Fn::GetAtt": [resource_id, "Id"]}


def test_removal_policy_sets_the_deletion_policy(three: ThreeExports) -> None:
    _, retained = only(
        three.template.find_resources(EVENT_ACTION_RESOURCE_TYPE, {"Properties": {"DataSetId": THIRD_DATA_SET}})
    )
    assert retained["DeletionPolicy"] == "Retain"
    assert retained["UpdateReplacePolicy"] == "Retain"


def test_the_default_removal_policy_deletes_the_event_action(three: ThreeExports) -> None:
    _, plain = only(
        three.template.find_resources(EVENT_ACTION_RESOURCE_TYPE, {"Properties": {"DataSetId": OTHER_DATA_SET}})
    )
    assert (plain["DeletionPolicy"], plain["UpdateReplacePolicy"]) == ("Delete", "Delete")
