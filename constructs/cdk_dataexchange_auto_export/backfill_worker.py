"""The one backfill worker function per stack: exports revisions published before an event action existed.

Made only when a construct of the stack asks for existing revisions. Its role is its own and allows,
per the sources named at each statement, what export jobs need of their caller.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ._nag import acknowledge_wildcard
from .provider import AutoExportEventActionProvider

# Export jobs take minutes each: the worker hands over to a new invocation before this runs out.
WORKER_TIMEOUT = Duration.minutes(15)
EXPORT_JOBS = {"StringEquals": {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}}


class BackfillWorker(Construct):
    """The worker function, its role and log group; the stack's provider may start it."""

    ID = "AutoExportBackfillWorker"

    @classmethod
    def of(cls, scope: Construct) -> BackfillWorker:
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(cls.ID)
        if isinstance(existing, cls):
            return existing
        return cls(stack, cls.ID)

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        provider = AutoExportEventActionProvider.of(self)
        self.log_group = logs.LogGroup(self, "LogGroup", retention=logs.RetentionDays.ONE_MONTH)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Exports existing Data Exchange revisions for AutoExportEventAction",
        )
        self.log_group.grant_write(self.role)
        jobs = stack.format_arn(service="dataexchange", resource="jobs", resource_name="*")
        event_actions = stack.format_arn(service="dataexchange", resource="event-actions", resource_name="*")
        data_exchange_assets = "arn:aws:s3:::*aws-data-exchange*"
        statements = [
            # Service Authorization Reference: job actions act on jobs/<id>, assigned at creation, and take the
            # dataexchange:JobType condition key, which AWSDataExchangeSubscriberFullAccess uses too.
            iam.PolicyStatement(
                actions=["dataexchange:CreateJob", "dataexchange:StartJob"],
                resources=[jobs],
                conditions=EXPORT_JOBS,
            ),
            iam.PolicyStatement(actions=["dataexchange:GetJob"], resources=[jobs]),
            # ListJobs supports no resource-level permissions.
            iam.PolicyStatement(actions=["dataexchange:ListJobs"], resources=["*"]),
            # To read the destination from the event action, and to stop when it is gone.
            iam.PolicyStatement(actions=["dataexchange:GetEventAction"], resources=[event_actions]),
            # The export reads the assets from Data Exchange's own buckets as the caller, through the service
            # (AWSDataExchangeSubscriberFullAccess; aws-samples/aws-dataexchange-api-samples tf-auto-export-to-s3).
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[data_exchange_assets],
                conditions={"ForAnyValue:StringEquals": {"aws:CalledVia": "dataexchange.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
            ),
        ]
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        for resource, reason in (
            (jobs, "Job ids are assigned by the service at creation; the statement is limited to export jobs."),
            ("*", "dataexchange:ListJobs supports no resource-level permissions; it only reads job states."),
            (event_actions, "Event action ids are assigned at creation; the worker only reads them."),
            (data_exchange_assets, "Data Exchange's asset buckets, read only through the service (aws:CalledVia)."),
        ):
            acknowledge_wildcard(self.role, resource, reason)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Exports revisions published before an AutoExportEventAction's event action existed",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=256,
            timeout=WORKER_TIMEOUT,
            handler="dataexchange_auto_export_handler.worker.handler",
            code=provider.code,
            role=self.role,
            log_group=self.log_group,
            # A failed invocation is retried twice, with the same cursor: what it started is found running.
            retry_attempts=2,
        )
        # The worker hands over to itself. In a policy of its own: in the role's default policy, which the
        # function depends on, its own ARN would make a circular dependency.
        iam.Policy(
            self,
            "InvokeItself",
            roles=[self.role],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])],
        )
        provider.function.add_environment("BACKFILL_FUNCTION", self.function.function_arn)
        provider.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
        )
        self._allowed: set[str] = set()

    def allow(self, data_set_id: str, bucket: s3.IBucket, key: kms.IKey | None, names_data_set: bool) -> None:
        """What exporting one data set's revisions to one bucket (and key) needs, once per combination."""
        stack = Stack.of(self)
        identity = json.dumps(stack.resolve([data_set_id, bucket.bucket_name, key and key.key_arn, names_data_set]))
        if identity in self._allowed:
            return
        self._allowed.add(identity)
        # An entitled data set belongs to its provider's account, which the subscriber cannot name.
        data_set = stack.format_arn(
            service="dataexchange", account="*", resource="data-sets", resource_name=data_set_id
        )
        revisions = f"{data_set}/revisions/*"
        statements = [
            iam.PolicyStatement(actions=["dataexchange:ListDataSetRevisions"], resources=[data_set]),
            # The user guide's API permissions reference: starting an export job reads the revision as the caller.
            iam.PolicyStatement(actions=["dataexchange:GetRevision"], resources=[revisions]),
            # The user guide, "Exporting revisions": the caller exports to a bucket it may write to.
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects("*")]),
        ]
        if names_data_set:
            # The user guide: a ${DataSet.Name} key pattern needs dataexchange:GetDataSet.
            statements.append(iam.PolicyStatement(actions=["dataexchange:GetDataSet"], resources=[data_set]))
        if key is not None:
            # The S3 user guide, SSE-KMS: writing an object under a KMS key needs kms:GenerateDataKey, and
            # kms:Decrypt for a multipart upload.
            statements.append(
                iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn])
            )
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        for resource, reason in (
            (data_set, "An entitled data set belongs to its provider's account, which the subscriber cannot name."),
            (revisions, "Revision ids are assigned by the provider; the statement names the one data set."),
            (bucket.arn_for_objects("*"), "Export jobs write the revisions' assets as objects of this one bucket."),
        ):
            acknowledge_wildcard(self.role, resource, reason)
