#!/usr/bin/env python3
"""Example app: an AutoExportEventAction exporting an entitled data set's new revisions to S3, or, with
productId, an AutoExportProduct exporting every data set of a subscribed product.

make cdk ARGS="synth -c dataSetId=<entitled data set id> [-c bucketName=...] [-c keyPattern=...] [-c kmsKeyArn=...]
                   [-c adoptExisting=true] [-c alertEmail=you@example.com] [-c exportExisting=all|N]"
make cdk ARGS="synth -c productId=<subscribed product id> [the same options]"
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportProduct, ExistingRevisions

STACK_NAME = "DataExchangeAutoExport"


class AutoExportStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        data_set_id: str | None = None,
        product_id: str | None = None,
        bucket_name: str | None = None,
        key_pattern: str | None = None,
        kms_key_arn: str | None = None,
        adopt_existing: bool = False,
        alert_email: str | None = None,
        export_existing: ExistingRevisions = ExistingRevisions.NONE,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        alert_topic = self._alert_topic(alert_email) if alert_email else None
        if bucket_name:
            bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "Destination", bucket_name)
        else:
            bucket = s3.Bucket(
                self,
                "Destination",
                encryption=s3.BucketEncryption.S3_MANAGED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                # Exported data outlives the stack: `cdk destroy` leaves the bucket and its objects.
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            # cdk-nag (AwsSolutions) asks for server access logs on every bucket. Acknowledgment came with
            # aws-cdk-lib 2.252.0; the construct tests run this app on the oldest release it supports too.
            if hasattr(cdk, "Acknowledgment"):
                cdk.Validations.of(bucket).acknowledge(
                    cdk.Acknowledgment(
                        id="AwsSolutions-S1",
                        reason="Only Data Exchange writes to this bucket, and it reports every export as an "
                        "EventBridge event (Auto-export Job Completed/Failed); server access logs would need a "
                        "second bucket, which the example leaves to the user.",
                    )
                )
        shared: dict[str, Any] = {
            "bucket": bucket,
            "key_pattern": key_pattern,
            "encryption_key": kms.Key.from_key_arn(self, "ExportKey", kms_key_arn) if kms_key_arn else None,
            "adopt_existing": adopt_existing,
            "alert_topic": alert_topic,
            "export_existing_revisions": export_existing,
        }
        if product_id is not None:
            product = AutoExportProduct(self, "AutoExportProduct", product_id=product_id, **shared)
            cdk.CfnOutput(self, "ProductId", value=product.product_id, description="The product followed")
            cdk.CfnOutput(self, "DataSetIds", value=product.data_set_ids, description="The data sets exported")
            cdk.CfnOutput(self, "EventActionCount", value=product.event_action_count, description="Event actions")
        elif data_set_id is not None:
            export = AutoExportEventAction(self, "AutoExport", data_set_id=data_set_id, **shared)
            cdk.CfnOutput(self, "EventActionArn", value=export.event_action_arn, description="The event action's ARN")
            cdk.CfnOutput(self, "EventActionId", value=export.event_action_id, description="The event action's id")
        else:
            raise ValueError("give a data set id or a product id")
        cdk.CfnOutput(self, "BucketName", value=bucket.bucket_name, description="Where new revisions land")
        if alert_topic is not None:
            cdk.CfnOutput(self, "AlertTopicArn", value=alert_topic.topic_arn, description="Failed exports go here")

    def _alert_topic(self, email: str) -> sns.Topic:
        """A topic for failed exports, mailed to `email`: encrypted with a key of its own (EventBridge may not
        use the AWS managed aws/sns key; the construct lets it use this one) and refusing anything but TLS."""
        key = kms.Key(
            self,
            "AlertKey",
            description="Encrypts the topic for failed Data Exchange exports",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        topic = sns.Topic(self, "AlertTopic", master_key=key, enforce_ssl=True)
        topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic


def existing_revisions(context: object) -> ExistingRevisions:
    """Context exportExisting: `all`, a number of newest revisions, or nothing (none)."""
    text = str(context or "").strip().lower()
    if not text or text == "none":
        return ExistingRevisions.NONE
    if text == "all":
        return ExistingRevisions.ALL
    if not text.isdigit():
        raise ValueError(f"exportExisting {context!r}: expected all, none or a number of revisions")
    return ExistingRevisions.latest(int(text))


def main() -> None:
    app = cdk.App()
    data_set_id = app.node.try_get_context("dataSetId")
    product_id = app.node.try_get_context("productId")
    if bool(data_set_id) == bool(product_id):
        sys.exit(
            "Pass one of the contexts dataSetId (an entitled data set) or productId (a subscribed product), "
            "for example: npx cdk synth -c dataSetId=8d494cba5e4720172a1e69a6e1b8fed5"
        )
    try:
        AutoExportStack(
            app,
            STACK_NAME,
            data_set_id=data_set_id or None,
            product_id=product_id or None,
            bucket_name=app.node.try_get_context("bucketName"),
            key_pattern=app.node.try_get_context("keyPattern"),
            kms_key_arn=app.node.try_get_context("kmsKeyArn"),
            adopt_existing=str(app.node.try_get_context("adoptExisting")).lower() == "true",
            alert_email=app.node.try_get_context("alertEmail"),
            export_existing=existing_revisions(app.node.try_get_context("exportExisting")),
            env=cdk.Environment(
                account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
            ),
        )
    except ValueError as error:
        sys.exit(f"Invalid context: {error}")
    app.synth()


if __name__ == "__main__":
    main()
