"""The one handler function per stack that serves every AutoExportEventAction in it, with its role and log group."""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IDependable

from ._bundling import handler_code
from ._nag import acknowledge_wildcard

HANDLER_TIMEOUT = Duration.seconds(60)
DATA_SERVICE_PRINCIPAL = "dataexchange.amazonaws.com"
WRITE_ACTIONS = ["s3:PutObject", "s3:PutObjectAcl"]


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
        acknowledge_wildcard(
            self.role,
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
        acknowledge_wildcard(
            self.role,
            "*",
            "dataexchange:ListEventActions supports no resource-level permissions; the statement allows only "
            "that read-only action, which a repeated Create uses to find the event action it already made.",
        )
        # Shared with the backfill worker, if the stack has one: one asset, staged once.
        self.code = handler_code()
        self.function = lambda_.Function(
            self,
            "Handler",
            description="Custom::DataExchangeEventAction handler (AutoExportEventAction)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=128,
            timeout=HANDLER_TIMEOUT,
            handler="dataexchange_auto_export_handler.index.handler",
            code=self.code,
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
        acknowledge_wildcard(
            self.role,
            data_set,
            "An entitled data set belongs to its provider's account, which the subscriber cannot name; "
            "the statement names the one data set and allows only dataexchange:GetDataSet.",
        )
