"""The AutoExportEventAction construct and the one handler function per stack that serves it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

from aws_cdk import (
    Acknowledgment,
    Annotations,
    CfnResource,
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IDependable

from dataexchange_auto_export_handler.properties import (
    PropertyError,
    check_bucket_name,
    check_data_set_id,
    check_key_pattern,
    check_kms_key_arn,
    check_tags,
)

from ._bundling import handler_code

RESOURCE_TYPE = "Custom::DataExchangeEventAction"
HANDLER_TIMEOUT = Duration.seconds(60)
# Just above the handler's timeout: if the handler dies without answering, CloudFormation gives up
# after this instead of waiting its default hour.
SERVICE_TIMEOUT = Duration.seconds(90)
DATA_SERVICE_PRINCIPAL = "dataexchange.amazonaws.com"
WRITE_ACTIONS = ["s3:PutObject", "s3:PutObjectAcl"]
BUCKET_POLICY_WARNING_ID = "@cdk-dataexchange-auto-export/bucketPolicy"


def _flatten_cfn_reference(value: object) -> str:
    """Renders a resolved value the way cdk-nag names its findings (its utils/flatten-cfn-reference)."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(_flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return _flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{_flatten_cfn_reference(resource)}.{_flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return _flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{_flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


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

        properties: dict[str, object] = {"DataSetId": data_set_id, "Bucket": bucket.bucket_name}
        if key_pattern is not None:
            properties["KeyPattern"] = key_pattern
        if encryption_key is not None:
            properties["KmsKeyArn"] = encryption_key.key_arn
        if tags:
            properties["Tags"] = tags

        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties=properties,
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


class AutoExportEventActionProvider(Construct):
    """The Lambda function, role and log group shared by every AutoExportEventAction in a stack."""

    ID = "AutoExportEventActionProvider"

    @classmethod
    def of(cls, scope: Construct) -> AutoExportEventActionProvider:
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(cls.ID)
        if isinstance(existing, cls):
            return existing
        return cls(stack, cls.ID)

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(self, "LogGroup", retention=logs.RetentionDays.ONE_MONTH)
        # A role of its own rather than AWSLambdaBasicExecutionRole: it may write to this log group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Creates, updates and deletes Data Exchange event actions for AutoExportEventAction",
        )
        self.log_group.grant_write(self.role)
        event_actions = stack.format_arn(service="dataexchange", resource="event-actions", resource_name="*")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "dataexchange:CreateEventAction",
                    "dataexchange:GetEventAction",
                    "dataexchange:UpdateEventAction",
                    "dataexchange:DeleteEventAction",
                    "dataexchange:TagResource",
                    "dataexchange:UntagResource",
                ],
                # Ids are assigned by the service at creation, so no narrower pattern exists.
                resources=[event_actions],
            )
        )
        self._acknowledge_wildcard(
            event_actions,
            "Event action ids are assigned by the service at creation, so the role cannot name them in advance; "
            "the wildcard is limited to event actions of this stack's account and region.",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dataexchange:ListEventActions"],
                # ListEventActions supports no resource-level permissions: "*" is the only resource it accepts.
                resources=["*"],
            )
        )
        self._acknowledge_wildcard(
            "*",
            "dataexchange:ListEventActions supports no resource-level permissions; the statement allows only "
            "that read-only action, which a repeated Create uses to find the event action it already made.",
        )
        self.function = lambda_.Function(
            self,
            "Handler",
            description="Custom::DataExchangeEventAction handler (AutoExportEventAction)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=128,
            timeout=HANDLER_TIMEOUT,
            handler="dataexchange_auto_export_handler.index.handler",
            code=handler_code(),
            role=self.role,
            log_group=self.log_group,
        )
        self._allowed_keys: set[str] = set()
        self._allowed_data_sets: set[str] = set()
        self._bucket_policies: dict[str, IDependable | None] = {}

    def allow_data_exchange_to_write(self, bucket: s3.IBucket) -> IDependable | None:
        """Adds the bucket policy statement that lets Data Exchange write exported objects, once per bucket.

        Returns what the event action must depend on, or None when the bucket is imported and its policy
        cannot be changed here.
        """
        # Once per bucket, not per construct: each statement costs a dozen jsii round trips at synth.
        address = bucket.node.addr
        if address not in self._bucket_policies:
            result = bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(DATA_SERVICE_PRINCIPAL)],
                    actions=WRITE_ACTIONS,
                    resources=[bucket.arn_for_objects("*")],
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            )
            self._bucket_policies[address] = result.policy_dependable if result.statement_added else None
        return self._bucket_policies[address]

    def allow_key(self, key: kms.IKey) -> None:
        """Creating an SSE-KMS event action makes Data Exchange take a grant on the key as the caller,
        and deleting it revokes that grant (the native AWS::DataExchange::EventAction handler needs both)."""
        key_arn = Stack.of(self).resolve(key.key_arn)
        if json.dumps(key_arn, sort_keys=True) in self._allowed_keys:
            return
        self._allowed_keys.add(json.dumps(key_arn, sort_keys=True))
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["kms:CreateGrant", "kms:RevokeGrant"], resources=[key.key_arn])
        )

    def allow_data_set_name_lookup(self, data_set_id: str) -> None:
        """A key pattern with ${DataSet.Name} makes the service read the data set as the caller."""
        resolved = json.dumps(Stack.of(self).resolve(data_set_id), sort_keys=True)
        if resolved in self._allowed_data_sets:
            return
        self._allowed_data_sets.add(resolved)
        data_set = Stack.of(self).format_arn(
            service="dataexchange", account="*", resource="data-sets", resource_name=data_set_id
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dataexchange:GetDataSet"],
                # An entitled data set belongs to the provider's account, which the subscriber cannot name.
                resources=[data_set],
            )
        )
        self._acknowledge_wildcard(
            data_set,
            "An entitled data set belongs to its provider's account, which the subscriber cannot name; "
            "the statement names the one data set and allows only dataexchange:GetDataSet.",
        )

    def _acknowledge_wildcard(self, resource: str, reason: str) -> None:
        """Acknowledges cdk-nag's AwsSolutions-IAM5 finding for one wildcard resource of the role's policy,
        so users who run cdk-nag (AwsSolutions) get a clean result for resources they do not control.

        cdk-nag 3 names each such finding after the resource as it renders it and matches acknowledgements
        by that exact id (there is no rule-wide form), hence the rendering here.
        """
        finding = _flatten_cfn_reference(Stack.of(self).resolve(resource))
        Validations.of(self.role).acknowledge(
            Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{finding}]", reason=reason)
        )
