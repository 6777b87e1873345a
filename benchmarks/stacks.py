"""The stack apps the benchmark synthesizes, each synth a whole process run like a user's app (the caller gives
it the quiet CDK environment; the built-in validation stays on, its default), importing only aws-cdk-lib and ours:

    python benchmarks/stacks.py {ours,native,awscr}[_imported] N OUTDIR
    python benchmarks/stacks.py {bare_lambda,provider,product,backfill} N OUTDIR

Each stack has one destination bucket, owned (made in the stack) or, with `_imported`, imported by name. ours,
native and awscr add N equivalent event actions (same data set, key pattern and SSE-S3); native and awscr add the
bucket policy statement that lets Data Exchange write, once, as ours does, and make each event action depend on
it, but not for an imported bucket, whose policy nobody can change here. bare_lambda and provider add no event
action and ignore N; product is N AutoExportProducts on the bucket; backfill is ours exporting every existing
revision too (ExistingRevisions.ALL). A builder
imports what its kind needs, as a user's app would: importing a jsii module or our construct is part of what synth
costs. Another kind is one more builder in BUILDERS.
"""

from __future__ import annotations

import sys
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IDependable

STACK_NAME = "BenchStack"
DATA_SET_ID = "8d494cba5e4720172a1e69a6e1b8fed5"


def data_set_id(index: int) -> str:
    """The data set the index-th event action exports: a data set each, as an app that deploys has them (the
    construct refuses more than 5 on one data set at synth, as Data Exchange does at deploy)."""
    return f"{DATA_SET_ID[:24]}{index:08d}"


# Without ${DataSet.Name}: ours would add dataexchange:GetDataSet for it, which the others would need as well.
KEY_PATTERN = "${Revision.Id}/${Asset.Name}"
ENCRYPTION, SERVICE = "AES256", "DataExchange"
IMPORTED = "_imported"  # a kind with this suffix: the same stack, its bucket imported by this name
IMPORTED_BUCKET_NAME = "bench-destination-imported"


def _allow_data_exchange_to_write(bucket: s3.IBucket) -> IDependable | None:
    """The statement AutoExportEventAction adds for a bucket of the same app; added once, as a user would. None
    for an imported bucket (Bucket.from_bucket_name makes no s3.Bucket): its policy cannot be changed here."""
    if not isinstance(bucket, s3.Bucket):
        return None
    result = bucket.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("dataexchange.amazonaws.com")],
            actions=["s3:PutObject", "s3:PutObjectAcl"],
            resources=[bucket.arn_for_objects("*")],
            conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(bucket).account}},
        )
    )
    if result.policy_dependable is None:
        raise RuntimeError("the bucket refused a policy statement, although it belongs to this app")
    return result.policy_dependable


def ours(stack: cdk.Stack, bucket: s3.IBucket, count: int, **props: Any) -> None:
    from cdk_dataexchange_auto_export import AutoExportEventAction

    for index in range(count):
        AutoExportEventAction(
            stack, f"Export{index}", data_set_id=data_set_id(index), bucket=bucket, key_pattern=KEY_PATTERN, **props
        )


def native(stack: cdk.Stack, bucket: s3.IBucket, count: int) -> None:
    from aws_cdk.aws_dataexchange import CfnEventAction

    policy = _allow_data_exchange_to_write(bucket)
    action = CfnEventAction.ActionProperty(
        export_revision_to_s3=CfnEventAction.AutoExportRevisionToS3RequestDetailsProperty(
            revision_destination=CfnEventAction.AutoExportRevisionDestinationEntryProperty(
                bucket=bucket.bucket_name, key_pattern=KEY_PATTERN
            ),
            encryption=CfnEventAction.ExportServerSideEncryptionProperty(type=ENCRYPTION),
        )
    )
    for index in range(count):
        published = CfnEventAction.RevisionPublishedProperty(data_set_id=data_set_id(index))
        event = CfnEventAction.EventProperty(revision_published=published)
        export = CfnEventAction(stack, f"Export{index}", action=action, event=event)
        if policy is not None:
            export.node.add_dependency(policy)


def awscr(stack: cdk.Stack, bucket: s3.IBucket, count: int) -> None:
    from aws_cdk import custom_resources as cr

    policy = _allow_data_exchange_to_write(bucket)
    destination = {"Bucket": bucket.bucket_name, "KeyPattern": KEY_PATTERN}
    action = {"ExportRevisionToS3": {"RevisionDestination": destination, "Encryption": {"Type": ENCRYPTION}}}
    for index in range(count):
        body = {"Action": action, "Event": {"RevisionPublished": {"DataSetId": data_set_id(index)}}}
        found = cr.PhysicalResourceId.from_response("Id")
        create = cr.AwsSdkCall(service=SERVICE, action="createEventAction", parameters=body, physical_resource_id=found)
        reference = {"EventActionId": cr.PhysicalResourceIdReference()}
        delete = cr.AwsSdkCall(service=SERVICE, action="deleteEventAction", parameters=reference)
        # The documented shortcut: one statement per call, on every resource, in a policy per construct.
        calls = cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE)
        export = cr.AwsCustomResource(stack, f"Export{index}", on_create=create, on_delete=delete, policy=calls)
        if policy is not None:
            export.node.add_dependency(policy)


def bare_lambda(stack: cdk.Stack, bucket: s3.IBucket, count: int) -> None:
    """The least a Lambda-backed custom resource adds: aws_lambda's import and one function with its role."""
    from aws_cdk import aws_lambda as lambda_

    code = lambda_.Code.from_inline("def handler(event, context):\n    pass\n")
    lambda_.Function(stack, "Handler", runtime=lambda_.Runtime.PYTHON_3_14, handler="index.handler", code=code)


def provider(stack: cdk.Stack, bucket: s3.IBucket, count: int) -> None:
    """Ours with no event action: its function (from the bundled asset), role, policy and log group."""
    from cdk_dataexchange_auto_export import AutoExportEventActionProvider

    AutoExportEventActionProvider.of(stack)


def product(stack: cdk.Stack, bucket: s3.IBucket, count: int) -> None:
    """N products followed, each its custom resource, its two rules and their permissions to invoke the handler."""
    from cdk_dataexchange_auto_export import AutoExportProduct

    for index in range(count):
        AutoExportProduct(stack, f"Product{index}", product_id=f"prod-bench{index:08d}", bucket=bucket)


def backfill(stack: cdk.Stack, bucket: s3.IBucket, count: int) -> None:
    """Ours, each construct also exporting every revision published before its event action existed."""
    from cdk_dataexchange_auto_export import ExistingRevisions

    ours(stack, bucket, count, export_existing_revisions=ExistingRevisions.ALL)


BUILDERS = {builder.__name__: builder for builder in (ours, native, awscr, bare_lambda, provider, product, backfill)}


def main(kind: str, count: int, outdir: str) -> None:
    app = cdk.App(outdir=outdir)
    stack = cdk.Stack(app, STACK_NAME)
    if kind.endswith(IMPORTED):
        bucket: s3.IBucket = s3.Bucket.from_bucket_name(stack, "Destination", IMPORTED_BUCKET_NAME)
    else:
        bucket = s3.Bucket(
            stack,
            "Destination",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
    BUILDERS[kind.removesuffix(IMPORTED)](stack, bucket, count)
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
