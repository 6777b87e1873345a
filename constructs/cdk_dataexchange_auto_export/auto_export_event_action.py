"""The AutoExportEventAction construct: one Data Exchange event action, as a custom resource."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

from aws_cdk import Annotations, CfnResource, CustomResource, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dataexchange_auto_export_handler.properties import (
    EventActionProperties,
    PropertyError,
    check_bucket_name,
    check_data_set_id,
    check_key_pattern,
    check_kms_key_arn,
    check_tags,
)

from .provider import DATA_SERVICE_PRINCIPAL, WRITE_ACTIONS, AutoExportEventActionProvider

RESOURCE_TYPE = "Custom::DataExchangeEventAction"
# Just above the handler's timeout: if the handler dies without answering, CloudFormation gives up
# after this instead of waiting its default hour.
SERVICE_TIMEOUT = Duration.seconds(90)
BUCKET_POLICY_WARNING_ID = "@cdk-dataexchange-auto-export/bucketPolicy"


class AutoExportEventAction(Construct):
    """Exports every newly published revision of an entitled Data Exchange data set to an S3 bucket.

    Deploys a ``Custom::DataExchangeEventAction`` backed by one Lambda function per stack, however
    many of these constructs the stack holds.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        data_set_id: str,
        bucket: s3.IBucket,
        key_pattern: str | None = None,
        encryption_key: kms.IKey | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param data_set_id: id of the entitled data set whose new revisions are exported.
        :param bucket: destination bucket. For a bucket defined in this app, the statement that lets
            Data Exchange write is added to its policy; for an imported bucket a synth warning says
            which statement to add.
        :param key_pattern: S3 key pattern of the exported assets; must contain ``${Asset.Name}`` or
            ``${Asset.Id}``. Default: - the Data Exchange default pattern, ``${Revision.CreatedAt}/${Asset.Name}``
        :param encryption_key: KMS key for SSE-KMS of the exported objects. Default: - SSE-S3 (AES256)
        :param tags: tags applied to the event action. Default: - no tags
        :param removal_policy: what happens to the event action when it leaves the stack.
            Default: RemovalPolicy.DESTROY (the event action is deleted)
        """
        super().__init__(scope, id)
        tags = dict(tags or {})
        self._validate(data_set_id, bucket, key_pattern, encryption_key, tags)

        provider = AutoExportEventActionProvider.of(self)
        if encryption_key is not None:
            provider.allow_key(encryption_key)
        if key_pattern is not None and (Token.is_unresolved(key_pattern) or "${DataSet.Name}" in key_pattern):
            provider.allow_data_set_name_lookup(data_set_id)

        properties = EventActionProperties(
            data_set_id=data_set_id,
            bucket=bucket.bucket_name,
            key_pattern=key_pattern,
            kms_key_arn=encryption_key.key_arn if encryption_key is not None else None,
            tags=tags,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties=properties.to_resource_properties(),
            service_timeout=SERVICE_TIMEOUT,
            removal_policy=removal_policy,
        )
        if removal_policy == RemovalPolicy.DESTROY:
            # Delete is CloudFormation's default for both policies: stating it costs ~70 template bytes
            # per construct, which adds up against the template size limit in stacks with many exports.
            cfn_options = cast(CfnResource, self.resource.node.default_child).cfn_options
            cfn_options.deletion_policy = None
            cfn_options.update_replace_policy = None
        # Created after, and deleted before, the permissions it needs. The role's policy needs no DependsOn
        # here: the ServiceToken's Fn::GetAtt waits for the function, which CDK makes depend on its role
        # and that role's policy. The bucket policy has no such path, hence the explicit dependency.
        bucket_policy = provider.allow_data_exchange_to_write(bucket)
        if bucket_policy is not None:
            self.resource.node.add_dependency(bucket_policy)
        else:
            self._warn_bucket_policy_needed(bucket)

        self.event_action_arn: str = self.resource.get_att_string("Arn")
        """The event action's ARN."""
        self.event_action_id: str = self.resource.get_att_string("Id")
        """The event action's id (also its physical resource id)."""

    def _validate(
        self,
        data_set_id: str,
        bucket: s3.IBucket,
        key_pattern: str | None,
        encryption_key: kms.IKey | None,
        tags: Mapping[str, str],
    ) -> None:
        # Tokens resolve at deploy time; the handler checks them then, with the same rules.
        checks = [(check_data_set_id, data_set_id, "data_set_id"), (check_bucket_name, bucket.bucket_name, "bucket")]
        if key_pattern is not None:
            checks.append((check_key_pattern, key_pattern, "key_pattern"))
        if encryption_key is not None:
            checks.append((check_kms_key_arn, encryption_key.key_arn, "encryption_key"))
        try:
            for check, value, name in checks:
                if not Token.is_unresolved(value):
                    check(value, name)
            check_tags(tags, "tags", skip=Token.is_unresolved)
        except PropertyError as error:
            raise ValueError(f"{self.node.path}: {error}") from None

    def _warn_bucket_policy_needed(self, bucket: s3.IBucket) -> None:
        account = Stack.of(self).account
        name = "<bucket-name>" if Token.is_unresolved(bucket.bucket_name) else bucket.bucket_name
        account_id = "<account-id>" if Token.is_unresolved(account) else account
        wanted = {
            "Effect": "Allow",
            "Principal": {"Service": DATA_SERVICE_PRINCIPAL},
            "Action": WRITE_ACTIONS,
            "Resource": f"arn:aws:s3:::{name}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
        Annotations.of(self).add_warning_v2(
            BUCKET_POLICY_WARNING_ID,
            f"Bucket {name} is imported, so its policy cannot be changed here. Add this statement to it "
            f"before deploying, or the event action fails with InsufficientS3BucketPolicy: {json.dumps(wanted)}",
        )
