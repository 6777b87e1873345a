"""The one backfill worker function per stack: exports revisions published before an event action existed.

Made only when a construct of the stack asks for existing revisions. Its role is its own and allows,
per the sources named at each statement, what export jobs need of their caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import CfnResource
from constructs import Construct

from ._function import LambdaFunction, Policy
from ._nag import acknowledge_wildcard
from .provider import AutoExportEventActionProvider

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

# Export jobs take minutes each: the worker hands over to a new invocation before this runs out.
WORKER_TIMEOUT_SECONDS = 15 * 60
EXPORT_JOBS = {"StringEquals": {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}}


class BackfillWorker(Construct):
    """The worker function, its role and log group; the stack's provider may start it."""

    ID = "AutoExportBackfillWorker"

    @classmethod
    def of(cls, provider: AutoExportEventActionProvider) -> BackfillWorker:
        existing = provider.stack.node.try_find_child(cls.ID)
        return existing if isinstance(existing, cls) else cls(provider.stack, cls.ID, provider)

    def __init__(self, scope: Construct, id: str, provider: AutoExportEventActionProvider) -> None:
        super().__init__(scope, id)
        stack = provider.stack
        worker = LambdaFunction(
            self,
            "Function",
            asset=provider.asset,
            handler="dataexchange_auto_export_handler.worker.handler",
            description="Exports revisions published before an AutoExportEventAction's event action existed",
            role_description="Exports existing Data Exchange revisions for AutoExportEventAction",
            memory_mb=256,
            timeout_seconds=WORKER_TIMEOUT_SECONDS,
        )
        self.worker, self.provider = worker, provider
        jobs = stack.format_arn(service="dataexchange", resource="jobs", resource_name="*")
        event_actions = provider.event_actions
        data_exchange_assets = "arn:aws:s3:::*aws-data-exchange*"
        policy = worker.policy
        # Service Authorization Reference: job actions act on jobs/<id>, assigned at creation, and take the
        # dataexchange:JobType condition key, which AWSDataExchangeSubscriberFullAccess uses too.
        policy.allow(["dataexchange:CreateJob", "dataexchange:StartJob"], [jobs], EXPORT_JOBS)
        policy.allow(["dataexchange:GetJob"], [jobs])
        # ListJobs supports no resource-level permissions.
        policy.allow(["dataexchange:ListJobs"], ["*"])
        # To read the destination from the event action, and to stop when it is gone.
        policy.allow(["dataexchange:GetEventAction"], [event_actions])
        # The export reads the assets from Data Exchange's own buckets as the caller, through the service
        # (AWSDataExchangeSubscriberFullAccess; aws-samples/aws-dataexchange-api-samples tf-auto-export-to-s3).
        policy.allow(
            ["s3:GetObject"],
            [data_exchange_assets],
            {"ForAnyValue:StringEquals": {"aws:CalledVia": "dataexchange.amazonaws.com"}},
        )
        policy.allow(
            ["events:PutEvents"], [stack.format_arn(service="events", resource="event-bus", resource_name="default")]
        )
        for resource, reason in (
            (jobs, "Job ids are assigned by the service at creation; the statement is limited to export jobs."),
            ("*", "dataexchange:ListJobs supports no resource-level permissions; it only reads job states."),
            (event_actions, "Event action ids are assigned at creation; the worker only reads them."),
            (data_exchange_assets, "Data Exchange's asset buckets, read only through the service (aws:CalledVia)."),
        ):
            acknowledge_wildcard(worker.role_scope, resource, reason)
        # A failed invocation is retried twice, with the same cursor: what it started is found running.
        CfnResource(
            Construct(worker.holder, "EventInvokeConfig"),
            "Resource",
            type="AWS::Lambda::EventInvokeConfig",
            properties={"FunctionName": worker.function.ref, "MaximumRetryAttempts": 2, "Qualifier": "$LATEST"},
        )
        # The worker hands over to itself. In a policy of its own: in the role's default policy, which the
        # function depends on, its own ARN would make a circular dependency.
        Policy(self, "InvokeItself", [worker.role]).allow(["lambda:InvokeFunction"], [worker.arn])
        provider.handler.environment["BACKFILL_FUNCTION"] = worker.arn
        provider.handler.policy.allow(["lambda:InvokeFunction"], [worker.arn])
        self._allowed: set[tuple[str, str, str | None, bool]] = set()

    def allow(self, data_set_id: str, bucket: s3.IBucket, key: kms.IKey | None, names_data_set: bool) -> None:
        """What exporting one data set's revisions to one bucket (and key) needs, once per combination."""
        objects = bucket.arn_for_objects("*")
        identity = (data_set_id, objects, key.key_arn if key else None, names_data_set)
        if identity in self._allowed:
            return
        self._allowed.add(identity)
        policy = self.worker.policy
        data_set = self.provider.data_set_arn(data_set_id)
        revisions = f"{data_set}/revisions/*"
        policy.allow(["dataexchange:ListDataSetRevisions"], [data_set])
        # The user guide's API permissions reference: starting an export job reads the revision as the caller.
        policy.allow(["dataexchange:GetRevision"], [revisions])
        # The user guide, "Exporting revisions": the caller exports to a bucket it may write to.
        policy.allow(["s3:PutObject"], [objects])
        if names_data_set:
            # The user guide: a ${DataSet.Name} key pattern needs dataexchange:GetDataSet.
            policy.allow(["dataexchange:GetDataSet"], [data_set])
        if key is not None:
            # The S3 user guide, SSE-KMS: writing an object under a KMS key needs kms:GenerateDataKey, and
            # kms:Decrypt for a multipart upload.
            policy.allow(["kms:GenerateDataKey", "kms:Decrypt"], [key.key_arn])
        for resource, reason in (
            (data_set, "An entitled data set belongs to its provider's account, which the subscriber cannot name."),
            (revisions, "Revision ids are assigned by the provider; the statement names the one data set."),
            (objects, "Export jobs write the revisions' assets as objects of this one bucket."),
        ):
            acknowledge_wildcard(self.worker.role_scope, resource, reason)
