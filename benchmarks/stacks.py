"""The three equivalent stack apps the benchmark synthesizes, one whole process per synth.

    python benchmarks/stacks.py {ours,native,awscr,bare_lambda,provider} N OUTDIR

Each stack holds one destination bucket and N event actions on the same data set, bucket, key
pattern and encryption (SSE-S3), each created after the bucket policy statement that lets Data
Exchange write. The built-in CloudFormation validation is left at its default (on): that is what
a user's `cdk synth` pays.

Run as a script, like a user's app, so the measured process imports only aws-cdk-lib and the
construct, never the benchmark's own modules.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IDependable

STACK_NAME = "BenchStack"
DATA_SET_ID = "8d494cba5e4720172a1e69a6e1b8fed5"
# An explicit pattern without ${DataSet.Name}: that reference would make ours add dataexchange:GetDataSet,
# which the other two would then need as well to stay equivalent.
KEY_PATTERN = "${Revision.Id}/${Asset.Name}"
ENCRYPTION = "AES256"


def _bucket(stack: cdk.Stack) -> s3.Bucket:
    return s3.Bucket(
        stack,
        "Destination",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def _allow_data_exchange_to_write(bucket: s3.Bucket) -> IDependable:
    """The statement AutoExportEventAction adds for a bucket of the same app; added once, as a user would."""
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


# Each builder imports only what its kind needs, as a user's app would: importing a jsii module
# or our construct is part of what synth costs.


def ours(stack: cdk.Stack, count: int) -> None:
    from cdk_dataexchange_auto_export import AutoExportEventAction

    bucket = _bucket(stack)
    for index in range(count):
        AutoExportEventAction(stack, f"Export{index}", data_set_id=DATA_SET_ID, bucket=bucket, key_pattern=KEY_PATTERN)


def native(stack: cdk.Stack, count: int) -> None:
    from aws_cdk import aws_dataexchange as dataexchange

    bucket = _bucket(stack)
    policy = _allow_data_exchange_to_write(bucket)
    action = dataexchange.CfnEventAction.ActionProperty(
        export_revision_to_s3=dataexchange.CfnEventAction.AutoExportRevisionToS3RequestDetailsProperty(
            revision_destination=dataexchange.CfnEventAction.AutoExportRevisionDestinationEntryProperty(
                bucket=bucket.bucket_name, key_pattern=KEY_PATTERN
            ),
            encryption=dataexchange.CfnEventAction.ExportServerSideEncryptionProperty(type=ENCRYPTION),
        )
    )
    event = dataexchange.CfnEventAction.EventProperty(
        revision_published=dataexchange.CfnEventAction.RevisionPublishedProperty(data_set_id=DATA_SET_ID)
    )
    for index in range(count):
        dataexchange.CfnEventAction(stack, f"Export{index}", action=action, event=event).node.add_dependency(policy)


def awscr(stack: cdk.Stack, count: int) -> None:
    from aws_cdk import custom_resources as cr

    bucket = _bucket(stack)
    policy = _allow_data_exchange_to_write(bucket)
    parameters = {
        "Action": {
            "ExportRevisionToS3": {
                "RevisionDestination": {"Bucket": bucket.bucket_name, "KeyPattern": KEY_PATTERN},
                "Encryption": {"Type": ENCRYPTION},
            }
        },
        "Event": {"RevisionPublished": {"DataSetId": DATA_SET_ID}},
    }
    for index in range(count):
        cr.AwsCustomResource(
            stack,
            f"Export{index}",
            on_create=cr.AwsSdkCall(
                service="DataExchange",
                action="createEventAction",
                parameters=parameters,
                physical_resource_id=cr.PhysicalResourceId.from_response("Id"),
            ),
            on_delete=cr.AwsSdkCall(
                service="DataExchange",
                action="deleteEventAction",
                parameters={"EventActionId": cr.PhysicalResourceIdReference()},
            ),
            # The documented shortcut: one statement per call, on every resource, in a policy per construct.
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
        ).node.add_dependency(policy)


# Reference stacks that hold no event action (N is ignored): they split ours' fixed synth cost into
# what any Lambda-backed custom resource pays and what our provider adds on top.


def bare_lambda(stack: cdk.Stack, count: int) -> None:
    """The least a Lambda-backed custom resource adds: aws_lambda's import and one function with its role."""
    from aws_cdk import aws_lambda as lambda_

    _bucket(stack)
    lambda_.Function(
        stack,
        "Handler",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    pass\n"),
    )


def provider(stack: cdk.Stack, count: int) -> None:
    """Ours with no event action: its function (from the bundled asset), role, policy and log group."""
    from cdk_dataexchange_auto_export import AutoExportEventActionProvider

    _bucket(stack)
    AutoExportEventActionProvider.of(stack)


BUILDERS: dict[str, Callable[[cdk.Stack, int], None]] = {
    "ours": ours,
    "native": native,
    "awscr": awscr,
    "bare_lambda": bare_lambda,
    "provider": provider,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(BUILDERS))
    parser.add_argument("count", type=int)
    parser.add_argument("outdir")
    arguments = parser.parse_args()
    app = cdk.App(outdir=arguments.outdir)
    BUILDERS[arguments.kind](cdk.Stack(app, STACK_NAME), arguments.count)
    app.synth()


if __name__ == "__main__":
    main()
