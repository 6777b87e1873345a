"""A user's own CDK app, for the local kit's tests: not the example app, nor its stack's name. Stack MarketData
exports two data sets (one to its own bucket with a backfill of the newest two revisions, one to an imported
bucket) and follows a product, all alerting one topic; stack Website holds none of ours. The kit's tests synthesize
it in-process; the wheel's test copies this file as the app.py of a folder outside the repository."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportProduct, ExistingRevisions

STACK = "MarketData"
OTHER_STACK = "Website"
PRICES = "7f3a9c1e5b2d48e6a0c4f8b1d3e5a7c9"
REFERENCE = "c0ffee00c0ffee00c0ffee00c0ffee00"
PRODUCT = "prod-abcdefghij123"
SHARED_BUCKET = "shared-reference-data"
# What the backfill of PRICES exports of the revisions published before the stack: the newest two.
PRICES_BACKFILL = 2


def build(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, STACK)
    landing = s3.Bucket(stack, "Landing")
    alerts = sns.Topic(stack, "Alerts")
    AutoExportEventAction(
        stack,
        "Prices",
        data_set_id=PRICES,
        bucket=landing,
        key_pattern="prices/${Revision.Id}/${Asset.Name}",
        alert_topic=alerts,
        export_existing_revisions=ExistingRevisions.latest(PRICES_BACKFILL),
    )
    shared = s3.Bucket.from_bucket_name(stack, "Shared", SHARED_BUCKET)
    AutoExportEventAction(stack, "Reference", data_set_id=REFERENCE, bucket=shared, alert_topic=alerts)
    AutoExportProduct(stack, "Vendor", product_id=PRODUCT, bucket=landing, alert_topic=alerts)
    cdk.CfnOutput(stack, "LandingBucketName", value=landing.bucket_name)
    cdk.CfnOutput(stack, "AlertTopicArn", value=alerts.topic_arn)
    s3.Bucket(cdk.Stack(app, OTHER_STACK), "Site")
    return stack


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
