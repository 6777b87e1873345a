"""Stacks the cdk-nag tests run both majors on: in the dev venv (cdk-nag 3) and, by a script, in .venv-cdk-nag2
(cdk-nag 2). Only aws-cdk-lib and the package: that venv has nothing else."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from cdk_dataexchange_auto_export import (
    AutoExportEventAction,
    AutoExportEventActionProvider,
    AutoExportProduct,
    ExistingRevisions,
)

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
ACCOUNT = "111111111111"
REGION = "eu-west-1"
ENV = cdk.Environment(account=ACCOUNT, region=REGION)


def compliant_bucket(stack: cdk.Stack) -> s3.Bucket:
    """A destination bucket cdk-nag has nothing to say about."""
    return s3.Bucket(stack, "Destination", enforce_ssl=True, server_access_logs_prefix="access-logs/")


def everything_stacks(app: cdk.App) -> None:
    """Stacks that make every acknowledgement the constructs have: both functions, a key, ${DataSet.Name}, an
    imported bucket, a fixed and an agnostic environment, a provider in a VPC, and a product."""
    fixed = cdk.Stack(app, "Fixed", env=ENV)
    AutoExportEventAction(
        fixed,
        "Export",
        data_set_id=DATA_SET,
        bucket=compliant_bucket(fixed),
        key_pattern="${DataSet.Name}/${Asset.Name}",
        encryption_key=kms.Key(fixed, "ExportKey", enable_key_rotation=True),
        export_existing_revisions=ExistingRevisions.ALL,
    )
    agnostic = cdk.Stack(app, "Agnostic")
    AutoExportEventAction(
        agnostic,
        "Export",
        data_set_id=cdk.CfnParameter(agnostic, "DataSetId").value_as_string,
        bucket=s3.Bucket.from_bucket_name(agnostic, "Existing", "existing-bucket"),
        key_pattern=cdk.CfnParameter(agnostic, "KeyPattern").value_as_string,
        export_existing_revisions=ExistingRevisions.latest(3),
    )
    followed = cdk.Stack(app, "Followed", env=ENV)
    AutoExportProduct(
        followed,
        "Export",
        product_id="prod-uexample0abc1d",
        bucket=compliant_bucket(followed),
        export_existing_revisions=ExistingRevisions.ALL,
    )
    networked = cdk.Stack(app, "Networked", env=ENV)
    vpc = ec2.Vpc(networked, "Vpc", max_azs=2, nat_gateways=1)
    vpc.add_flow_log("FlowLog")
    provider = AutoExportEventActionProvider(networked, "Provider", vpc=vpc)
    AutoExportEventAction(
        networked,
        "Export",
        data_set_id=DATA_SET,
        bucket=compliant_bucket(networked),
        provider=provider,
        export_existing_revisions=ExistingRevisions.ALL,
    )
