"""cdk-nag (AwsSolutions, cdk-nag 3 validations API): any unacknowledged finding fails app.synth()."""

from __future__ import annotations

import re
from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from support import ACCOUNT, ALERT_EMAIL, DATA_SET, ENV, REGION, ThreeExports, compliant_bucket, nag_app, needs_cdk_nag

from app import AutoExportStack
from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportEventActionProvider

pytestmark = needs_cdk_nag


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
    iam.Policy(
        stack,
        "Extra",
        roles=[AutoExportEventActionProvider.of(stack).role],
        statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::other-bucket/*"])],
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
    # Given the example stack with its own bucket and an alert topic, and with an existing bucket, key and
    # ${DataSet.Name}
    app = nag_app(new_cdk_app)
    AutoExportStack(app, "Default", data_set_id=DATA_SET, alert_email=ALERT_EMAIL)
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


def test_the_construct_acknowledges_only_its_own_wildcards_each_with_its_reason(three: ThreeExports) -> None:
    provider = AutoExportEventActionProvider.of(three.stack)
    acknowledged: dict[str, str] = {}
    for construct in provider.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                # aws-cdk-lib stores an id without a plugin prefix as "Annotation::<id>"; cdk-nag strips that.
                acknowledged.update(
                    {re.sub(r"^annotation::", "", k, flags=re.IGNORECASE): v for k, v in entry.data.items()}
                )
    # Each reason says why that wildcard cannot be narrowed: the action it serves and what limits it
    why = {
        "AwsSolutions-IAM5[Resource::*]": ("support no resource-level permissions", "ListEventActions", "only read"),
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dataexchange:{REGION}:{ACCOUNT}:event-actions/*]": (
            "Event action ids are assigned by the service at creation",
            "this stack's account and region",
        ),
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dataexchange:{REGION}:*:data-sets/{DATA_SET}]": (
            "An entitled data set belongs to its provider's account",
            "only dataexchange:GetDataSet",
        ),
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:{REGION}:{ACCOUNT}:stack/Exports/*]": (
            "an id CloudFormation assigns",
            "this one stack's name",
        ),
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:{REGION}:{ACCOUNT}:key/*]": (
            "cleanup phase",
            "Only kms:RevokeGrant",
            "kms:GrantIsForAWSResource",
            "keys of this account and Region",
        ),
    }
    assert set(acknowledged) == set(why)
    for finding, phrases in why.items():
        assert all(phrase in acknowledged[finding] for phrase in phrases), acknowledged[finding]
