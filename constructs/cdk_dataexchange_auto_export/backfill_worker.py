"""The backfill worker of a provider: exports revisions published before an event action existed.

Made only when a construct asks for existing revisions, with its provider's settings. Its role is its
own and allows, per the sources named at each statement, what export jobs need of their caller. An
invocation that fails for good (an unhandled error, a timeout, running out of memory, after Lambda's
two retries) goes to the default event bus as Lambda's invocation record; a rule hands it back to the
worker, which reports it as `Backfill Failed`, so the failure reaches the same rules as any other.

The worker hands over to a new invocation of itself until the backfill is done, which Lambda's recursive loop
detection would stop at the 17th: it allows recursion (`RecursiveLoop: Allow`) and carries its own guard rails
(`dataexchange_auto_export_handler.backfill`; CONTRIBUTING says why not Step Functions).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dataexchange_auto_export_handler.contract import INVOCATION_FAILED_DETAIL_TYPE, WORKER_STACK_VARIABLE

from . import _arns
from ._findings import acknowledge_wildcard, skip_checkov
from ._function import FunctionSettings, allow_unscoped, provider_function

# Export jobs take minutes each: the worker hands over to a new invocation before this runs out.
WORKER_TIMEOUT = Duration.minutes(15)
EXPORT_JOBS = {"StringEquals": {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}}


class BackfillWorker(Construct):
    """The worker function, its role and log group (its provider lets its handler start it)."""

    ID = "AutoExportBackfillWorker"

    def __init__(self, scope: Construct, id: str, settings: FunctionSettings, code: lambda_.Code) -> None:
        super().__init__(scope, id)
        self.function, role = provider_function(
            self,
            "Function",
            settings=settings,
            code=code,
            handler="dataexchange_auto_export_handler.worker.handler",
            description="Exports revisions published before an AutoExportEventAction's event action existed",
            role_description="Exports existing Data Exchange revisions for AutoExportEventAction",
            # It waits for export jobs most of the time, and is billed for it: 128 MB holds it (BENCHMARKS.md: its
            # peak) at half the cost of 256.
            memory_size=128,
            timeout=WORKER_TIMEOUT,
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
            environment={WORKER_STACK_VARIABLE: Stack.of(scope).stack_id},
            # A failed invocation is retried twice, with the same cursor: what it started is found running.
            retry_attempts=2,
            on_failure=destinations.EventBridgeDestination(),
        )
        skip_checkov(
            self.function,
            (
                "CKV_AWS_116",
                "An invocation that fails for good goes to the on-failure destination, which keeps Lambda's error "
                "(a dead-letter queue would keep only the payload), and is reported as Backfill Failed.",
            ),
            (
                "CKV_AWS_173",
                "The one variable is the stack's id, no secret and in the template anyway; Lambda encrypts environment "
                "variables at rest with its AWS managed key.",
            ),
            (
                "CKV_AWS_115",
                "A backfill runs one invocation at a time (each hands over to the next), so concurrency is bounded "
                "by the backfills in progress; reserved concurrency would only take capacity from other functions.",
            ),
        )
        self.role = role
        stack = self.function.stack
        jobs = stack.format_arn(service="dataexchange", resource="jobs", resource_name="*")
        data_exchange_assets = stack.format_arn(service="s3", region="", account="", resource="*aws-data-exchange*")
        # Service Authorization Reference: job actions act on jobs/<id>, assigned at creation, and take the
        # dataexchange:JobType condition key, which AWSDataExchangeSubscriberFullAccess uses too.
        self._allow(["dataexchange:CreateJob", "dataexchange:StartJob"], [jobs], EXPORT_JOBS)
        self._allow(["dataexchange:GetJob"], [jobs])
        allow_unscoped(
            role,
            ["dataexchange:ListJobs"],
            "dataexchange:ListJobs supports no resource-level permissions; this policy allows only that read-only "
            "action, which finds the revisions already exported.",
        )
        # To read the destination from the event action, and to stop when it is gone; the event action's backfill
        # tag holds the chain of invocations, which each invocation claims (backfill.Claim).
        event_actions = _arns.event_actions(stack)
        self._allow(["dataexchange:GetEventAction", "dataexchange:TagResource"], [event_actions])
        # The export reads the assets from Data Exchange's own buckets as the caller, through the service
        # (AWSDataExchangeSubscriberFullAccess; aws-samples/aws-dataexchange-api-samples tf-auto-export-to-s3).
        self._allow(
            ["s3:GetObject"],
            [data_exchange_assets],
            {"ForAnyValue:StringEquals": {"aws:CalledVia": "dataexchange.amazonaws.com"}},
        )
        # The end event (the failure destination's grant is the same statement).
        self._allow(["events:PutEvents"], [_arns.default_event_bus(stack)])
        # A backfill ends with its stack: the worker reads its own stack's status, by the stack's exact ARN.
        self._allow(["cloudformation:DescribeStacks"], [stack.stack_id])
        for resource, reason in (
            (jobs, "Job ids are assigned by the service at creation; the statement is limited to export jobs."),
            (
                event_actions,
                "Event action ids are assigned at creation; the worker reads them and tags its backfill's progress.",
            ),
            (data_exchange_assets, "Data Exchange's asset buckets, read only through the service (aws:CalledVia)."),
        ):
            acknowledge_wildcard(role, resource, reason)
        # The worker hands over to itself. In a policy of its own: in the role's default policy, which the
        # function depends on, its own ARN would make a circular dependency.
        iam.Policy(
            self,
            "InvokeItself",
            roles=[role],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])],
        )
        # Lambda's record of an invocation that failed for good names the function, qualified or not.
        arn = self.function.function_arn
        events.Rule(
            self,
            "FailedInvocations",
            description="Hands the backfill worker's failed invocations back to it, to report as Backfill Failed",
            event_pattern=events.EventPattern(
                source=["lambda"],
                detail_type=[INVOCATION_FAILED_DETAIL_TYPE],
                detail={"requestContext": {"functionArn": [arn, f"{arn}:$LATEST"]}},
            ),
            targets=[targets.LambdaFunction(self.function)],
        )
        self._allowed: set[tuple[str, str, str | None, bool]] = set()

    def allow(self, data_set_id: str, bucket: s3.IBucket, key: kms.IKey | None, names_data_set: bool) -> None:
        """What exporting one data set's revisions to one bucket (and key) needs, once per combination."""
        objects = bucket.arn_for_objects("*")
        identity = (data_set_id, objects, key.key_arn if key else None, names_data_set)
        if identity in self._allowed:
            return
        self._allowed.add(identity)
        data_set = _arns.data_set(self.function.stack, data_set_id)
        revisions = f"{data_set}/revisions/*"
        self._allow(["dataexchange:ListDataSetRevisions"], [data_set])
        # The user guide's API permissions reference: starting an export job reads the revision as the caller.
        self._allow(["dataexchange:GetRevision"], [revisions])
        # The user guide, "Exporting revisions": the caller exports to a bucket it may write to.
        self._allow(["s3:PutObject"], [objects])
        if names_data_set:
            # The user guide: a ${DataSet.Name} key pattern needs dataexchange:GetDataSet.
            self._allow(["dataexchange:GetDataSet"], [data_set])
        if key is not None:
            # The S3 user guide, SSE-KMS: writing an object under a KMS key needs kms:GenerateDataKey, and
            # kms:Decrypt for a multipart upload.
            self._allow(["kms:GenerateDataKey", "kms:Decrypt"], [key.key_arn])
        for resource, reason in (
            (data_set, "An entitled data set belongs to its provider's account, which the subscriber cannot name."),
            (revisions, "Revision ids are assigned by the provider; the statement names the one data set."),
            (objects, "Export jobs write the revisions' assets as objects of this one bucket."),
        ):
            acknowledge_wildcard(self.role, resource, reason)

    def _allow(
        self, actions: list[str], resources: list[str], conditions: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
        )
