"""What a platform team applies to every stack reaches the construct's resources: tags, permissions boundaries,
cdk-nag, SAM CLI's asset metadata, a VPC and a log group of their own, escape hatches; and an upgrade keeps
every logical id of the default provider."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from nag_stacks import everything_stacks
from support import (
    ACCOUNT,
    ALERT_EMAIL,
    DATA_SET,
    ENV,
    OTHER_DATA_SET,
    REGION,
    code_spans,
    compliant_bucket,
    nag_app,
    needs_cdk_nag,
    only,
    provider_part,
    readme_table,
)

from app import AutoExportStack
from cdk_dataexchange_auto_export import (
    EVENT_ACTION_RESOURCE_TYPE,
    AutoExportEventAction,
    AutoExportEventActionProvider,
    ExistingRevisions,
)
from cdk_dataexchange_auto_export._findings import ACKNOWLEDGE_CONTEXT

# What the CDK CLI puts in the context of every app it runs (SAM CLI reads the metadata it turns on).
CLI_CONTEXT = {"aws:cdk:enable-asset-metadata": True}
# The tag types a platform team's tag policy asks of what the construct makes.
TAGGED_TYPES = ("AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Logs::LogGroup")


@dataclass
class Everything:
    stack: cdk.Stack
    template: Template


@pytest.fixture(scope="module")
def tagged(new_cdk_app: Callable[..., cdk.App]) -> Everything:
    """The example app with an alert topic and a backfill, tagged at the app, with a clashing `tags` prop."""
    app = new_cdk_app(context={**CLI_CONTEXT, "aws:cdk:disable-stack-trace": True})
    stack = AutoExportStack(
        app, "Tagged", data_set_id=DATA_SET, alert_email=ALERT_EMAIL, export_existing=ExistingRevisions.ALL, env=ENV
    )
    cdk.Tags.of(app).add("CostCenter", "4711")
    cdk.Tags.of(app).add("team", "platform")
    export = stack.node.find_child("AutoExport")
    assert isinstance(export, AutoExportEventAction)
    cdk.Tags.of(export).add("DataOwner", "market-data")
    return Everything(stack, Template.from_stack(stack))


def test_tags_of_the_app_reach_every_function_role_and_log_group(tagged: Everything) -> None:
    for resource_type in TAGGED_TYPES:
        resources = tagged.template.find_resources(resource_type)
        assert len(resources) == 2, f"the handler's and the worker's {resource_type}"
        for logical_id, resource in resources.items():
            tags = resource["Properties"]["Tags"]
            assert {"Key": "CostCenter", "Value": "4711"} in tags, f"{logical_id} is not tagged"


def test_tags_of_the_app_reach_the_event_action_under_the_tags_prop(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    # Given a construct whose `tags` prop clashes with a tag of the app on one key
    app = new_cdk_app()
    stack = cdk.Stack(app, "Tags", env=ENV)
    export = AutoExportEventAction(
        stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "B"), tags={"team": "market-data"}
    )
    cdk.Tags.of(app).add("CostCenter", "4711")
    cdk.Tags.of(app).add("team", "platform")
    cdk.Tags.of(export).add("DataOwner", "research")
    # Then the event action gets all three, the prop winning on the clash
    _, resource = only(Template.from_stack(stack).find_resources(EVENT_ACTION_RESOURCE_TYPE))
    assert resource["Properties"]["Tags"] == {"CostCenter": "4711", "team": "market-data", "DataOwner": "research"}


def test_an_untagged_construct_sends_only_its_tags_prop(new_cdk_app: Callable[..., cdk.App]) -> None:
    stack = cdk.Stack(new_cdk_app(), "Untagged", env=ENV)
    bucket = s3.Bucket(stack, "B")
    AutoExportEventAction(stack, "Plain", data_set_id=DATA_SET, bucket=bucket)
    AutoExportEventAction(stack, "Given", data_set_id=OTHER_DATA_SET, bucket=bucket, tags={"team": "x"})
    cdk.Tags.of(stack).add("Excluded", "yes", include_resource_types=["AWS::S3::Bucket"])
    tags = {
        resource["Properties"]["DataSetId"]: resource["Properties"].get("Tags")
        for resource in Template.from_stack(stack).find_resources(EVENT_ACTION_RESOURCE_TYPE).values()
    }
    assert tags == {DATA_SET: None, OTHER_DATA_SET: {"team": "x"}}


def test_a_permissions_boundary_reaches_every_role(new_cdk_app: Callable[..., cdk.App]) -> None:
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/platform-boundary"
    app = new_cdk_app()
    by_aspect = AutoExportStack(app, "ByAspect", data_set_id=DATA_SET, export_existing=ExistingRevisions.ALL, env=ENV)
    iam.PermissionsBoundary.of(by_aspect).apply(iam.ManagedPolicy.from_managed_policy_arn(by_aspect, "B", boundary))
    by_stack = AutoExportStack(
        app,
        "ByStack",
        data_set_id=DATA_SET,
        export_existing=ExistingRevisions.ALL,
        env=ENV,
        permissions_boundary=cdk.PermissionsBoundary.from_arn(boundary),
    )
    for stack in (by_aspect, by_stack):
        roles = Template.from_stack(stack).find_resources("AWS::IAM::Role")
        assert len(roles) == 2
        for role in roles.values():
            assert stack.resolve(role["Properties"]["PermissionsBoundary"]) == boundary


def test_every_function_carries_the_asset_metadata_sam_cli_reads(tagged: Everything) -> None:
    functions = tagged.template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 2
    assembly = Path(cdk.Stage.of(tagged.stack).synth().directory)  # type: ignore[union-attr]
    for function in functions.values():
        metadata = function["Metadata"]
        assert metadata["aws:asset:property"] == "Code"
        # Shipped ready-made: nothing was bundled at synth, and nothing is left for SAM CLI to build but a copy
        assert metadata["aws:asset:is-bundled"] is False
        asset = assembly / metadata["aws:asset:path"]
        assert (asset / "dataexchange_auto_export_handler" / "index.py").is_file()
        assert (asset / "crhelper" / "resource_helper.py").is_file()


# --- cdk-nag sees the construct's resources -----------------------------------------------------


def nag_findings(app: cdk.App) -> dict[str, set[str]]:
    """Synthesizes the app under AwsSolutionsChecks: finding id -> the construct paths it was reported on."""
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    return {
        violation["ruleName"]: {construct["constructPath"] for construct in violation["violatingConstructs"]}
        for plugin in report["pluginReports"]
        if plugin["pluginName"] == "AwsSolutions"
        for violation in plugin["violations"]
    }


NAG_TABLE = "### cdk-nag (AwsSolutions)"


def spelled_finding(spelled: str) -> re.Pattern[str]:
    """A finding id as the README spells it: `<lower-case words>` stand for one value of the user's, or the
    token cdk-nag shows for it (`<AWS::Region>`, `<Destination920A3C57.Arn>`)."""
    parts = re.split(r"(<[a-z][^>]*>)", spelled)
    return re.compile("".join(r"(?:<[^>]+>|[^:/*<>]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)))


def assert_readme_lists(reported: dict[str, set[str]], handling: str) -> None:
    """The README's cdk-nag table lists each reported finding exactly once, handled so ("acknowledged" or
    "reported"), and each of its rows on the resources cdk-nag reports it on."""
    rows = [
        (
            [spelled_finding(span) for span in code_spans(row["finding"])],
            {name.strip() for name in row["on"].split(",")},
        )
        for row in readme_table(NAG_TABLE, "docs/iam.md")
        if row["in the template"] == handling
    ]

    def on(patterns: list[re.Pattern[str]]) -> set[str]:
        return {
            provider_part(path)
            for finding, paths in reported.items()
            if any(pattern.fullmatch(finding) for pattern in patterns)
            for path in paths
        }

    listed = {finding: sum(any(p.fullmatch(finding) for p in patterns) for patterns, _ in rows) for finding in reported}
    assert listed == dict.fromkeys(reported, 1), "findings the README does not list exactly once"
    assert {patterns[0].pattern: on(patterns) for patterns, _ in rows} == {
        patterns[0].pattern: names for patterns, names in rows
    }


@needs_cdk_nag
def test_cdk_nag_reports_a_wildcard_added_to_the_providers_role(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given the construct, clean under cdk-nag, and an s3:* on * planted through the provider's role
    app = nag_app(new_cdk_app)
    stack = cdk.Stack(app, "Planted", env=ENV)
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=compliant_bucket(stack))
    provider = AutoExportEventActionProvider.of(stack)
    provider.role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    # Then cdk-nag reports both wildcards, on the role's policy, and nothing else
    findings = nag_findings(app)
    policy = "Planted/AutoExportEventActionProvider/Role/DefaultPolicy/Resource"
    assert findings == {
        "AwsSolutions-IAM5[Action::s3:*]": {policy},
        "AwsSolutions-IAM5[Resource::*]": {policy},
    }


@needs_cdk_nag
def test_cdk_nag_runs_its_lambda_rules_on_both_functions(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given a provider whose functions an escape hatch moves to an old runtime
    app = nag_app(new_cdk_app)
    stack = cdk.Stack(app, "OldRuntime", env=ENV)
    AutoExportEventAction(
        stack,
        "Export",
        data_set_id=DATA_SET,
        bucket=compliant_bucket(stack),
        export_existing_revisions=ExistingRevisions.ALL,
    )
    provider = AutoExportEventActionProvider.of(stack)
    for function in (provider.function, provider.backfill_function):
        assert function is not None
        cfn = function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        cfn.runtime = "python3.9"
    # Then AwsSolutions-L1 names both, as the README says
    reported = nag_findings(app)
    assert reported == {
        "AwsSolutions-L1": {
            "OldRuntime/AutoExportEventActionProvider/Handler/Resource",
            "OldRuntime/AutoExportBackfillWorker/Function/Resource",
        }
    }
    assert_readme_lists(reported, "reported")


def acknowledgements(root: cdk.App) -> dict[str, set[str]]:
    """Every cdk-nag acknowledgement made in the app: finding id -> the construct paths it was made on."""
    found: dict[str, set[str]] = {}
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for key in entry.data:
                    finding = re.sub(r"^annotation::", "", key, flags=re.IGNORECASE)
                    found.setdefault(finding, set()).add(construct.node.path)
    return found


@needs_cdk_nag
def test_every_acknowledgement_matches_a_finding_cdk_nag_reports(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given the stacks as users deploy them: cdk-nag has nothing left to report
    acknowledged = nag_app(new_cdk_app)
    everything_stacks(acknowledged)
    acknowledged.synth()
    made = {
        finding: paths
        for finding, paths in acknowledgements(acknowledged).items()
        if finding.startswith("AwsSolutions-")
    }
    # When the same stacks are synthesized without the construct's acknowledgements
    audited = nag_app(lambda **kwargs: new_cdk_app(context={ACKNOWLEDGE_CONTEXT: "false"}, **kwargs))
    everything_stacks(audited)
    reported = nag_findings(audited)
    # Then each acknowledgement names a finding cdk-nag reported at or below where it was made
    unmatched = {
        finding: paths
        for finding, paths in made.items()
        if not all(any(path == at or path.startswith(at + "/") for path in reported.get(finding, ())) for at in paths)
    }
    assert unmatched == {}, "acknowledgements that match no finding of cdk-nag's own"
    # And every finding on the construct's own resources is acknowledged, and listed in the README
    assert set(reported) == set(made)
    assert_readme_lists(reported, "acknowledged")


# --- a provider of the user's own ----------------------------------------------------------------


@dataclass
class OwnProvider:
    stack: cdk.Stack
    template: Template
    provider: AutoExportEventActionProvider
    vpc: ec2.Vpc
    group: ec2.SecurityGroup
    log_group: logs.LogGroup


@pytest.fixture(scope="module")
def own_provider(new_cdk_app: Callable[..., cdk.App]) -> OwnProvider:
    """A provider in a VPC's isolated subnets, with a security group and an encrypted log group of the
    stack's, serving two constructs (one exporting existing revisions)."""
    stack = cdk.Stack(new_cdk_app(), "Networked", env=ENV)
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        subnet_configuration=[ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    group = ec2.SecurityGroup(stack, "Egress", vpc=vpc)
    log_group = logs.LogGroup(
        stack, "Logs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=kms.Key(stack, "LogKey")
    )
    provider = AutoExportEventActionProvider(
        stack,
        "Networked",
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_groups=[group],
        log_group=log_group,
    )
    bucket = s3.Bucket(stack, "Destination")
    AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket=bucket, provider=provider)
    AutoExportEventAction(
        stack,
        "B",
        data_set_id=OTHER_DATA_SET,
        bucket=bucket,
        provider=provider,
        export_existing_revisions=ExistingRevisions.ALL,
    )
    return OwnProvider(stack, Template.from_stack(stack), provider, vpc, group, log_group)


def test_a_provider_puts_both_functions_in_its_subnets_groups_and_log_group(own_provider: OwnProvider) -> None:
    stack, template = own_provider.stack, own_provider.template
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 2
    subnets = [stack.resolve(subnet.subnet_id) for subnet in own_provider.vpc.isolated_subnets]
    group = stack.resolve(own_provider.group.security_group_id)
    for function in functions.values():
        vpc_config = function["Properties"]["VpcConfig"]
        assert vpc_config["SubnetIds"] == subnets
        assert vpc_config["SecurityGroupIds"] == [group]
        assert function["Properties"]["LoggingConfig"] == {
            "LogGroup": stack.resolve(own_provider.log_group.log_group_name)
        }
    # aws_lambda's policy for a function's network interfaces, which it attaches only to a role it makes
    vpc_access = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"],
        ]
    }
    for role in template.find_resources("AWS::IAM::Role").values():
        assert role["Properties"]["ManagedPolicyArns"] == [vpc_access]
    # No log group of the provider's own: the user's holds both functions' logs
    template.resource_count_is("AWS::Logs::LogGroup", 1)
    assert own_provider.provider.log_group is own_provider.provider.backfill_log_group


def test_a_provider_of_the_users_own_serves_its_constructs_and_no_default_one_is_made(
    own_provider: OwnProvider,
) -> None:
    stack, provider = own_provider.stack, own_provider.provider
    tokens = [
        resource["Properties"]["ServiceToken"]
        for resource in own_provider.template.find_resources(EVENT_ACTION_RESOURCE_TYPE).values()
    ]
    assert tokens == [stack.resolve(provider.function.function_arn)] * 2
    assert stack.node.try_find_child(AutoExportEventActionProvider.ID) is None
    assert provider.backfill_function is not None
    assert provider.backfill_function.node.path == "Networked/Networked/BackfillWorker/Function"


def test_an_escape_hatch_on_the_provider_function_reaches_the_template(new_cdk_app: Callable[..., cdk.App]) -> None:
    stack = cdk.Stack(new_cdk_app(), "Hatch", env=ENV)
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "B"))
    provider = AutoExportEventActionProvider.of(stack)
    cfn = provider.function.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    cfn.add_property_override("TracingConfig.Mode", "Active")
    cfn.reserved_concurrent_executions = 2
    provider.role.add_to_principal_policy(iam.PolicyStatement(actions=["xray:PutTraceSegments"], resources=["*"]))
    template = Template.from_stack(stack)
    _, function = only(template.find_resources("AWS::Lambda::Function"))
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert function["Properties"]["ReservedConcurrentExecutions"] == 2
    # The statement is in the default policy, which the function is created after
    policy_id, policy = next(
        (key, value) for key, value in template.find_resources("AWS::IAM::Policy").items() if "DefaultPolicy" in key
    )
    assert {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"} in policy["Properties"][
        "PolicyDocument"
    ]["Statement"]
    assert policy_id in function["DependsOn"]


# --- upgrades and the rest of a platform team's review --------------------------------------------

# Everything the default provider and its worker made before this release, by logical id: a custom
# resource's ServiceToken cannot change ("Modifying service token is not allowed"), and a worker
# replaced mid-backfill would lose its hand-over.
PINNED_LOGICAL_IDS = {
    "AutoExportEventActionProviderHandlerDE3C7D53": "AWS::Lambda::Function",
    "AutoExportEventActionProviderRoleC9BC902C": "AWS::IAM::Role",
    "AutoExportEventActionProviderRoleDefaultPolicyC594CAE1": "AWS::IAM::Policy",
    "AutoExportEventActionProviderLogGroup334A3A40": "AWS::Logs::LogGroup",
    "AutoExportBackfillWorkerFunction8B3F0F9F": "AWS::Lambda::Function",
    "AutoExportBackfillWorkerFunctionEventInvokeConfigB6BE6BA1": "AWS::Lambda::EventInvokeConfig",
    "AutoExportBackfillWorkerRoleBF9D8FB1": "AWS::IAM::Role",
    "AutoExportBackfillWorkerRoleDefaultPolicyA8B13F4E": "AWS::IAM::Policy",
    "AutoExportBackfillWorkerLogGroupC6F49F60": "AWS::Logs::LogGroup",
    "AutoExportBackfillWorkerInvokeItself53DE1D32": "AWS::IAM::Policy",
}


def test_an_upgrade_keeps_every_logical_id_of_the_default_provider(tagged: Everything) -> None:
    resources = tagged.template.to_json()["Resources"]
    assert {key: resources.get(key, {}).get("Type") for key in PINNED_LOGICAL_IDS} == PINNED_LOGICAL_IDS
    # And the custom resource keeps the construct's own id, its ServiceToken naming the same function
    _, custom = only(tagged.template.find_resources(EVENT_ACTION_RESOURCE_TYPE))
    assert custom["Properties"]["ServiceToken"] == {
        "Fn::GetAtt": ["AutoExportEventActionProviderHandlerDE3C7D53", "Arn"]
    }


def test_the_worker_sends_invocations_that_fail_for_good_back_to_itself(tagged: Everything) -> None:
    worker = {"Fn::GetAtt": ["AutoExportBackfillWorkerFunction8B3F0F9F", "Arn"]}
    default_bus = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":events:{REGION}:{ACCOUNT}:event-bus/default"]]
    }
    tagged.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": "AutoExportBackfillWorkerFunction8B3F0F9F"},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": default_bus}},
        },
    )
    tagged.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["lambda"],
                "detail-type": ["Lambda Function Invocation Result - Failure"],
                "detail": {"requestContext": {"functionArn": [worker, {"Fn::Join": ["", [worker, ":$LATEST"]]}]}},
            },
            "Targets": [Match.object_like({"Arn": worker})],
        },
    )


def test_kms_grants_are_only_for_data_exchange_and_an_imported_key_gets_one_warning(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    stack = cdk.Stack(new_cdk_app(), "ImportedKey", env=ENV)
    key_arn = f"arn:aws:kms:{REGION}:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key = kms.Key.from_key_arn(stack, "Key", key_arn)
    bucket = s3.Bucket(stack, "Destination")
    AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket=bucket, encryption_key=key)
    AutoExportEventAction(stack, "B", data_set_id=OTHER_DATA_SET, bucket=bucket, encryption_key=key)
    (warning,) = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("is imported"))
    assert warning.id == "/ImportedKey/Key"
    message = str(warning.entry.data)
    assert f"Key {key_arn} is imported" in message
    assert "the event actions of ImportedKey/A, ImportedKey/B fail" in message
    assert "kms:CreateGrant and kms:RevokeGrant with kms:GrantIsForAWSResource" in message


def test_a_stack_in_another_partition_names_no_aws_partition(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given a stack in China with an imported bucket and a backfill
    stack = cdk.Stack(new_cdk_app(), "China", env=cdk.Environment(account=ACCOUNT, region="cn-north-1"))
    bucket = s3.Bucket.from_bucket_name(stack, "Existing", "existing-bucket")
    AutoExportEventAction(
        stack, "Export", data_set_id=DATA_SET, bucket=bucket, export_existing_revisions=ExistingRevisions.ALL
    )
    # Then nothing in the template names the aws partition, and the warning names aws-cn's
    assert "arn:aws:" not in json.dumps(Template.from_stack(stack).to_json())
    (warning,) = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("is imported"))
    assert '"Resource": "arn:aws-cn:s3:::existing-bucket/*"' in str(warning.entry.data)
