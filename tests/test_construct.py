"""AutoExportEventAction as CloudFormation sees it: resources, permissions, dependencies, validation, asset."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from app import AutoExportStack
from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportEventActionProvider

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
OTHER_DATA_SET = "aaaaaaaaaabbbbbbbbbbcccccccccc12"
THIRD_DATA_SET = "0123456789abcdefABCDEF0123456789"
ACCOUNT = "111111111111"
REGION = "eu-west-1"
ENV = cdk.Environment(account=ACCOUNT, region=REGION)
CUSTOM_TYPE = "Custom::DataExchangeEventAction"
PARTITION = {"Ref": "AWS::Partition"}
MAX_ZIPPED_ASSET = 64 * 1024


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


# ---------------------------------------------------------------------------------------------------
# A stack with three constructs on one bucket: the shape most users will deploy.
# ---------------------------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def three(new_cdk_app: Callable[..., cdk.App]) -> ThreeExports:
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


@pytest.fixture(scope="module")
def minimal(new_cdk_app: Callable[..., cdk.App]) -> tuple[cdk.Stack, Template]:
    """One construct with only the required props."""
    app = new_cdk_app()
    stack = cdk.Stack(app, "Minimal", env=ENV)
    AutoExportEventAction(stack, "AutoExport", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"))
    return stack, Template.from_stack(stack)


def test_the_custom_resource_carries_every_given_property(three: ThreeExports) -> None:
    three.template.has_resource(
        CUSTOM_TYPE,
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
            },
        },
    )


def test_optional_properties_are_absent_when_not_given(three: ThreeExports) -> None:
    # Given the construct with only data_set_id and bucket
    _, plain = only(three.template.find_resources(CUSTOM_TYPE, {"Properties": {"DataSetId": OTHER_DATA_SET}}))
    # Then the handler receives no KeyPattern, KmsKeyArn or Tags (it applies the service defaults)
    assert set(plain["Properties"]) == {"ServiceToken", "ServiceTimeout", "DataSetId", "Bucket"}


def test_service_timeout_is_just_above_the_function_timeout(three: ThreeExports) -> None:
    _, function = only(three.template.find_resources("AWS::Lambda::Function"))
    function_timeout = function["Properties"]["Timeout"]
    assert function_timeout == 60
    for resource in three.template.find_resources(CUSTOM_TYPE).values():
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
    three.template.resource_count_is(CUSTOM_TYPE, 3)
    three.template.resource_count_is("AWS::Lambda::Function", 1)
    three.template.resource_count_is("AWS::IAM::Role", 1)
    three.template.resource_count_is("AWS::IAM::Policy", 1)
    three.template.resource_count_is("AWS::Logs::LogGroup", 1)
    function_id, _ = only(three.template.find_resources("AWS::Lambda::Function"))
    tokens = {json.dumps(r["Properties"]["ServiceToken"]) for r in three.template.find_resources(CUSTOM_TYPE).values()}
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
        template.resource_count_is(CUSTOM_TYPE, 2)
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


def test_the_role_may_do_exactly_what_the_handler_needs(minimal: tuple[cdk.Stack, Template]) -> None:
    _, template = minimal
    log_group_id, _ = only(template.find_resources("AWS::Logs::LogGroup"))
    role_id, _ = only(template.find_resources("AWS::IAM::Role"))
    _, policy = only(template.find_resources("AWS::IAM::Policy"))
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    assert policy["Properties"]["PolicyDocument"] == {
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
            {"Effect": "Allow", "Action": "dataexchange:ListEventActions", "Resource": "*"},
        ],
    }


def test_a_key_and_a_data_set_name_in_the_pattern_add_exactly_their_statements(three: ThreeExports) -> None:
    _, policy = only(three.template.find_resources("AWS::IAM::Policy"))
    added = policy["Properties"]["PolicyDocument"]["Statement"][3:]
    # The key of `full` (once, though one construct uses it), and GetDataSet only for the data set whose
    # pattern names ${DataSet.Name}: not for `plain` (no pattern) nor `retained` (${Asset.Id} only).
    assert added == [
        {
            "Effect": "Allow",
            "Action": ["kms:CreateGrant", "kms:RevokeGrant"],
            "Resource": {"Fn::GetAtt": [logical_id(three.stack, three.key), "Arn"]},
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
    kms_statements = [s for s in statements(Template.from_stack(stack)) if str(s["Action"]).startswith("['kms:")]
    assert len(kms_statements) == 1


def test_only_list_event_actions_is_allowed_on_every_resource(
    three: ThreeExports, minimal: tuple[cdk.Stack, Template]
) -> None:
    for template in (three.template, minimal[1]):
        wildcard = [s for s in statements(template) if s["Resource"] == "*" or "*" in s.get("Resource", [])]
        assert wildcard == [{"Effect": "Allow", "Action": "dataexchange:ListEventActions", "Resource": "*"}]


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
    role_policy_id, _ = only(three.template.find_resources("AWS::IAM::Policy"))
    function_id, function = only(three.template.find_resources("AWS::Lambda::Function"))
    # The role policy through the ServiceToken: CloudFormation waits for the function, which waits for it.
    assert role_policy_id in function["DependsOn"]
    for resource in three.template.find_resources(CUSTOM_TYPE).values():
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


def test_an_imported_bucket_gets_a_warning_with_the_statement_to_add(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given a bucket imported by name
    app = new_cdk_app()
    stack = cdk.Stack(app, "Imported", env=ENV)
    bucket = s3.Bucket.from_bucket_name(stack, "Destination", "existing-bucket")
    AutoExportEventAction(stack, "AutoExport", data_set_id=DATA_SET, bucket=bucket)
    # When synthesized
    annotations = Annotations.from_stack(stack)
    # Then one warning on the construct names the bucket and carries the exact statement, and nothing fails
    annotations.has_no_error("*", Match.any_value())
    (warning,) = annotations.find_warning("*", Match.any_value())
    assert warning.id == "/Imported/AutoExport"
    message = str(warning.entry.data)
    assert "existing-bucket" in message
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
    template.has_resource_properties(CUSTOM_TYPE, {"Bucket": "existing-bucket"})


def test_the_attributes_resolve_to_the_custom_resource(three: ThreeExports) -> None:
    resource_id = logical_id(three.stack, three.full.resource)
    assert three.stack.resolve(three.full.event_action_arn) == {"Fn::GetAtt": [resource_id, "Arn"]}
    assert three.stack.resolve(three.full.event_action_id) == {"Fn::GetAtt": [resource_id, "Id"]}


def test_removal_policy_sets_the_deletion_policy(three: ThreeExports) -> None:
    _, retained = only(three.template.find_resources(CUSTOM_TYPE, {"Properties": {"DataSetId": THIRD_DATA_SET}}))
    assert retained["DeletionPolicy"] == "Retain"
    assert retained["UpdateReplacePolicy"] == "Retain"


def test_the_default_removal_policy_leaves_cloudformation_default_delete(three: ThreeExports) -> None:
    _, plain = only(three.template.find_resources(CUSTOM_TYPE, {"Properties": {"DataSetId": OTHER_DATA_SET}}))
    assert "DeletionPolicy" not in plain
    assert "UpdateReplacePolicy" not in plain


# ---------------------------------------------------------------------------------------------------
# Synth-time validation: each error names the construct, the prop and the bad value.
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def stack(new_cdk_app: Callable[..., cdk.App]) -> cdk.Stack:
    return cdk.Stack(new_cdk_app(), "Validation", env=ENV)


def export(stack: cdk.Stack, **props: Any) -> AutoExportEventAction:
    props.setdefault("data_set_id", DATA_SET)
    if "bucket" not in props:
        props["bucket"] = s3.Bucket(stack, "Destination")
    return AutoExportEventAction(stack, "AutoExport", **props)


def test_fails_when_data_set_id_is_malformed(stack: cdk.Stack) -> None:
    with pytest.raises(
        ValueError, match=r"Validation/AutoExport: data_set_id 'not-a-data-set-id' is not a data set id"
    ):
        export(stack, data_set_id="not-a-data-set-id")


def test_fails_when_data_set_id_is_too_short(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"data_set_id 'abc123' is not a data set id"):
        export(stack, data_set_id="abc123")


@pytest.mark.parametrize(
    ("key_pattern", "complaint"),
    [
        ("${Revision.CreatedAt}/data.csv", r"must contain \$\{Asset.Name\} or \$\{Asset.Id\}"),
        ("${Asset.Name}/${Revision.Created}", r"unknown reference \$\{Revision.Created\}"),
        ("${Revision.Id}/${Asset.Name", r"'\$\{' without its closing '\}'"),
        ("", r"must be 1 to 1024 characters long"),
    ],
    ids=["no-asset-reference", "unknown-reference", "unclosed-reference", "empty"],
)
def test_fails_when_key_pattern_is_invalid(stack: cdk.Stack, key_pattern: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=rf"key_pattern {re.escape(repr(key_pattern))} .*{complaint}"):
        export(stack, key_pattern=key_pattern)


def test_fails_when_there_are_too_many_tags(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"tags has 49 tags: at most 48"):
        export(stack, tags={f"key{i}": "value" for i in range(49)})


def test_accepts_the_most_tags_the_service_leaves_to_users(stack: cdk.Stack) -> None:
    export(stack, tags={f"key{i}": "value" for i in range(48)})


def test_fails_when_a_tag_key_is_reserved(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"tags key 'aws:x' is reserved"):
        export(stack, tags={"aws:x": "value"})


def test_fails_when_a_tag_value_is_too_long(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"tags value for 'team' must be a string of at most 256 characters"):
        export(stack, tags={"team": "x" * 257})


def test_fails_when_the_bucket_name_is_invalid(stack: cdk.Stack) -> None:
    bucket = s3.Bucket.from_bucket_name(stack, "Destination", "Not_A_Bucket")
    with pytest.raises(ValueError, match=r"bucket 'Not_A_Bucket' is not a valid S3 bucket name"):
        export(stack, bucket=bucket)


def test_fails_when_the_key_is_an_alias(stack: cdk.Stack) -> None:
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/exports"
    key = kms.Key.from_key_arn(stack, "ExportKey", alias_arn)
    with pytest.raises(ValueError, match=rf"encryption_key '{alias_arn}' is not a KMS key ARN.*aliases"):
        export(stack, encryption_key=key)


def test_tokens_are_left_to_the_handler(stack: cdk.Stack) -> None:
    # Given a data set id, key pattern and tag value known only at deploy time
    data_set_id = cdk.CfnParameter(stack, "DataSetId").value_as_string
    key_pattern = cdk.CfnParameter(stack, "KeyPattern").value_as_string
    team = cdk.CfnParameter(stack, "Team").value_as_string
    # When the construct is built, nothing is rejected
    export(stack, data_set_id=data_set_id, key_pattern=key_pattern, tags={"team": team})
    # Then the values reach the handler as references, and the pattern may need GetDataSet
    template = Template.from_stack(stack)
    template.has_resource_properties(
        CUSTOM_TYPE,
        {"DataSetId": {"Ref": "DataSetId"}, "KeyPattern": {"Ref": "KeyPattern"}, "Tags": {"team": {"Ref": "Team"}}},
    )
    assert any(s["Action"] == "dataexchange:GetDataSet" for s in statements(template))


# ---------------------------------------------------------------------------------------------------
# The Lambda asset, from the synthesized cloud assembly.
# ---------------------------------------------------------------------------------------------------


def test_the_asset_holds_the_handler_and_crhelper_and_stays_small(three: ThreeExports) -> None:
    assembly = three.app.synth()
    _, function = only(three.template.find_resources("AWS::Lambda::Function"))
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    manifest = json.loads(Path(assembly.directory, f"{three.stack.artifact_id}.assets.json").read_text())
    source = manifest["files"][asset_hash]["source"]
    assert source["packaging"] == "zip"
    asset = Path(assembly.directory, source["path"])

    files = {path.relative_to(asset).as_posix() for path in asset.rglob("*") if path.is_file()}
    assert {"dataexchange_auto_export_handler/index.py", "crhelper/resource_helper.py"} <= files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.startswith("boto")], "the Lambda runtime provides boto3"

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.write(asset / name, name)
    assert len(zipped.getvalue()) <= MAX_ZIPPED_ASSET


# ---------------------------------------------------------------------------------------------------
# cdk-nag (AwsSolutions, cdk-nag 3 validations API): any unacknowledged finding fails app.synth().
# ---------------------------------------------------------------------------------------------------


def nag_app(new_cdk_app: Callable[..., cdk.App]) -> cdk.App:
    app = new_cdk_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def compliant_bucket(stack: cdk.Stack) -> s3.Bucket:
    return s3.Bucket(stack, "Destination", enforce_ssl=True, server_access_logs_prefix="access-logs/")


def test_cdk_nag_finds_nothing_unacknowledged_in_the_construct(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given stacks with a same-stack bucket and KMS key, in a fixed environment and an agnostic one, with
    # ${DataSet.Name} literal and from parameters (each renders the wildcard ARNs differently)
    app = nag_app(new_cdk_app)
    fixed = cdk.Stack(app, "Fixed", env=ENV)
    AutoExportEventAction(
        fixed,
        "AutoExport",
        data_set_id=DATA_SET,
        bucket=compliant_bucket(fixed),
        key_pattern="${DataSet.Name}/${Asset.Name}",
        encryption_key=kms.Key(fixed, "ExportKey", enable_key_rotation=True),
    )
    agnostic = cdk.Stack(app, "Agnostic")
    AutoExportEventAction(
        agnostic,
        "AutoExport",
        data_set_id=cdk.CfnParameter(agnostic, "DataSetId").value_as_string,
        bucket=compliant_bucket(agnostic),
        key_pattern=cdk.CfnParameter(agnostic, "KeyPattern").value_as_string,
        encryption_key=kms.Key(agnostic, "ExportKey", enable_key_rotation=True),
    )
    # When synthesized with AwsSolutionsChecks, then no finding is left (synth raises otherwise)
    app.synth()


def test_cdk_nag_still_reports_what_the_construct_does_not_own(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given the user's bucket without enforce_ssl and a wildcard statement the user adds to the shared role
    app = nag_app(new_cdk_app)
    stack = cdk.Stack(app, "Mine", env=ENV)
    bucket = s3.Bucket(stack, "Destination", server_access_logs_prefix="access-logs/")
    AutoExportEventAction(stack, "AutoExport", data_set_id=DATA_SET, bucket=bucket)
    AutoExportEventActionProvider.of(stack).role.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::other-bucket/*"])
    )
    # When synthesized, then exactly those two are reported: the construct's acknowledgements are per finding
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    reported = set(re.findall(r"Acknowledge with '([^']+)'", str(failure.value)))
    assert reported == {
        "AwsSolutions::AwsSolutions-S10",
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::other-bucket/*]",
    }


def test_cdk_nag_finds_nothing_unacknowledged_in_the_example_app(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given the example stack with its own bucket, and with an existing bucket, key and ${DataSet.Name}
    app = nag_app(new_cdk_app)
    AutoExportStack(app, "Default", data_set_id=DATA_SET)
    AutoExportStack(
        app,
        "Everything",
        data_set_id=DATA_SET,
        bucket_name="existing-bucket",
        key_pattern="${DataSet.Name}/${Asset.Id}",
        kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        env=ENV,
    )
    app.synth()


def test_the_construct_acknowledges_only_its_own_wildcards_each_with_a_reason(three: ThreeExports) -> None:
    role = AutoExportEventActionProvider.of(three.stack).role
    acknowledged: dict[str, str] = {}
    for entry in role.node.metadata:
        if entry.type == "aws:cdk:acknowledged-rules":
            # aws-cdk-lib stores an id without a plugin prefix as "Annotation::<id>"; cdk-nag strips that.
            acknowledged.update(
                {re.sub(r"^annotation::", "", k, flags=re.IGNORECASE): v for k, v in entry.data.items()}
            )
    assert set(acknowledged) == {
        "AwsSolutions-IAM5[Resource::*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dataexchange:{REGION}:{ACCOUNT}:event-actions/*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dataexchange:{REGION}:*:data-sets/{DATA_SET}]",
    }
    assert all(len(reason) > 40 for reason in acknowledged.values())
