"""The Lambda function that serves AutoExportEventAction custom resources, with its role and log group, and
the backfill worker beside it once a construct asks for existing revisions.

A stack has one shared provider (`AutoExportEventActionProvider.of`), made on first use; a provider of
the user's own carries settings (a VPC, a log group) to both of its functions. Everything a construct
asks of a provider (a bucket statement, a key, a data set name) is added once per bucket, key or data set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import jsii
from aws_cdk import Annotations, Aspects, CfnResource, Duration, IAspect, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk.region_info import RegionInfo
from constructs import Construct, IConstruct

from dataexchange_auto_export_handler.properties import check_bucket_name

from ._bundling import handler_code
from ._findings import acknowledge_wildcard, skip_checkov
from ._function import FunctionSettings, allow_unscoped, provider_function

if TYPE_CHECKING:
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_s3 as s3

    from .backfill_worker import BackfillWorker

HANDLER_TIMEOUT = Duration.seconds(60)
DATA_SERVICE_PRINCIPAL = "dataexchange.amazonaws.com"
WRITE_ACTIONS = ["s3:PutObject", "s3:PutObjectAcl"]
BUCKET_POLICY_WARNING_ID = "@cdk-dataexchange-auto-export/bucketPolicy"
KEY_POLICY_WARNING_ID = "@cdk-dataexchange-auto-export/keyPolicy"
# Data Exchange creates and revokes its grant on an SSE-KMS key as the caller, on the caller's behalf.
GRANT_FOR_AWS_RESOURCE = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
KEY_USE = (
    "kms:CreateGrant and kms:RevokeGrant with kms:GrantIsForAWSResource (and, for existing revisions, "
    "kms:GenerateDataKey and kms:Decrypt). A key of this account whose policy lets IAM policies grant access "
    "(the default key policy) needs nothing more; a key of another account must name the roles in its key policy."
)


class AutoExportEventActionProvider(Construct):
    """The Lambda function behind AutoExportEventAction custom resources, with its role and log group.

    Every construct of a stack shares one, ``AutoExportEventActionProvider.of(stack)``, unless given
    one of the user's own with ``provider=``. The provider's settings apply to the backfill worker too,
    which it makes when a construct asks for existing revisions.

    Where no prop exists, ``function``, ``role`` and ``log_group`` are the way in: ``grant_invoke``,
    ``metric_errors()``, ``node.default_child`` overrides, statements added to the role (in place before
    the function is created, as aws_lambda arranges).
    """

    ID = "AutoExportEventActionProvider"

    @classmethod
    def of(cls, scope: IConstruct) -> AutoExportEventActionProvider:
        """The stack's shared provider, made on first use."""
        # A stack is its own: asking jsii for it would cost every construct made in a stack a round trip.
        stack = scope if isinstance(scope, Stack) else Stack.of(scope)
        existing = stack.node.try_find_child(cls.ID)
        return existing if isinstance(existing, cls) else cls(stack, cls.ID)

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        log_group: logs.ILogGroup | None = None,
    ) -> None:
        """
        :param vpc: the VPC both functions run in; it must reach Data Exchange, S3 (CloudFormation's
            response URL), Lambda and EventBridge (the backfill worker), through NAT or VPC endpoints.
            Default: - no VPC
        :param vpc_subnets: where in the VPC. Default: - aws_lambda's default, the private subnets
        :param security_groups: the functions' security groups. Default: - one made by aws_lambda for each
            function, allowing all outbound traffic
        :param log_group: where both functions log (retention, encryption and tags are the group's).
            Default: - a log group of each function's own, kept for a month and retained with the stack
        """
        super().__init__(scope, id)
        self._stack = Stack.of(self)
        self._settings = FunctionSettings(vpc, vpc_subnets, security_groups, log_group)
        self._code = handler_code()
        self._handler, role = provider_function(
            self,
            "Handler",
            settings=self._settings,
            code=self._code,
            handler="dataexchange_auto_export_handler.index.handler",
            description="Custom::DataExchangeEventAction handler (AutoExportEventAction)",
            role_description="Creates, updates and deletes Data Exchange event actions for AutoExportEventAction",
            memory_size=128,
            timeout=HANDLER_TIMEOUT,
        )
        skip_checkov(
            self._handler,
            (
                "CKV_AWS_116",
                "CloudFormation invokes the handler and waits for its answer at most the custom resource's "
                "ServiceTimeout; a request parked in a dead-letter queue could never be answered, and CloudFormation "
                "fails the resource by itself.",
            ),
            (
                "CKV_AWS_115",
                "Only CloudFormation invokes the handler, once per custom resource change of a deploy; reserved "
                "concurrency would only take capacity from the account's other functions.",
            ),
        )
        self.function: lambda_.IFunction = self._handler
        """The custom resource handler (its ``node.default_child`` is the ``CfnFunction``)."""
        # Read once: every custom resource of the provider needs it.
        self._service_token = self._handler.function_arn
        self.role: iam.IRole = role
        """The handler's role."""
        self.log_group: logs.ILogGroup = self.function.log_group
        """Where the handler logs."""
        # Ids are assigned by the service at creation, so no narrower pattern exists.
        self.event_actions = self._stack.format_arn(service="dataexchange", resource="event-actions", resource_name="*")
        self._allow(
            [
                "dataexchange:CreateEventAction",
                "dataexchange:GetEventAction",
                "dataexchange:UpdateEventAction",
                "dataexchange:DeleteEventAction",
                "dataexchange:TagResource",
                "dataexchange:UntagResource",
            ],
            self.event_actions,
            "Event action ids are assigned by the service at creation, so the role cannot name them in advance; "
            "the wildcard is limited to event actions of this stack's account and region.",
        )
        self._unscoped = allow_unscoped(
            role,
            ["dataexchange:ListEventActions"],
            "The list actions of this policy support no resource-level permissions, and only read: "
            "ListEventActions finds the event actions a resource made, ListDataSets a product's data sets.",
        )
        self._follows_products = False
        self._keys: set[str] = set()
        self._data_sets: set[str] = set()
        self._buckets: dict[s3.IBucket, tuple[str, CfnResource | None, list[str]]] = {}
        self._imported_keys: dict[kms.IKey, list[str]] = {}
        self._worker: BackfillWorker | None = None

    @property
    def service_token(self) -> str:
        return self._service_token

    @property
    def backfill_function(self) -> lambda_.IFunction | None:
        """The backfill worker, once a construct asks for existing revisions; None before."""
        return self._worker.function if self._worker else None

    @property
    def backfill_role(self) -> iam.IRole | None:
        """The backfill worker's role; None without a worker."""
        return self._worker.function.role if self._worker else None

    @property
    def backfill_log_group(self) -> logs.ILogGroup | None:
        """Where the backfill worker logs; None without a worker."""
        return self._worker.function.log_group if self._worker else None

    def backfill_worker(self) -> BackfillWorker:
        """The worker that exports existing revisions, with this provider's settings, made on first use."""
        if self._worker is None:
            from .backfill_worker import BackfillWorker

            # The stack's shared provider keeps its worker where releases before 2.0 made it, so that an
            # upgrade keeps its logical ids; a provider of the user's own holds its worker.
            shared = self.node.scope is self._stack and self.node.id == self.ID
            scope, id = (self._stack, BackfillWorker.ID) if shared else (self, "BackfillWorker")
            self._worker = BackfillWorker(scope, id, self, self._settings, self._code)
            worker = self._worker.function
            self._handler.add_environment("BACKFILL_FUNCTION", worker.function_arn)
            skip_checkov(
                self._handler,
                (
                    "CKV_AWS_173",
                    "The handler's one environment variable is the backfill worker's ARN, which is no secret and is in "
                    "the template anyway; Lambda encrypts environment variables at rest with its AWS managed key.",
                ),
            )
            worker.grant_invoke(self.role)
            acknowledge_wildcard(
                self.role,
                f"{worker.function_arn}:*",
                "aws_lambda's grant_invoke also allows the worker's versions and aliases; it has none, and the "
                "handler invokes it by its unqualified ARN.",
            )
        return self._worker

    def data_set_arn(self, data_set_id: str) -> str:
        """An entitled data set belongs to the provider's account, which the subscriber cannot name."""
        return self._stack.format_arn(
            service="dataexchange", account="*", resource="data-sets", resource_name=data_set_id
        )

    def bucket(self, bucket: s3.IBucket, construct_id: str) -> tuple[str, CfnResource | None]:
        """The bucket's name, and what an event action exporting to it must depend on: the statement that
        lets Data Exchange write, added to its policy once, or None for an imported bucket, whose policy
        cannot be changed here (one warning per bucket then names every construct that needs it). The name is
        checked once per bucket, unless a token (the handler checks it at deploy time, with the same rules)."""
        known = self._buckets.get(bucket)
        if known is None:
            name = bucket.bucket_name
            if not Token.is_unresolved(name):
                check_bucket_name(name, "bucket")
            known = (name, self._allow_data_exchange_to_write(bucket), [])
            self._buckets[bucket] = known
            if known[1] is None:
                name, account = _shown(known[0], "<bucket-name>"), _shown(self._stack.account, "<account-id>")
                wanted = {
                    "Effect": "Allow",
                    "Principal": {"Service": DATA_SERVICE_PRINCIPAL},
                    "Action": WRITE_ACTIONS,
                    "Resource": f"arn:{self._partition()}:s3:::{name}/*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
                _warn_once(
                    bucket,
                    BUCKET_POLICY_WARNING_ID,
                    known[2],
                    lambda constructs: (
                        f"Bucket {name} is imported, so its policy cannot be changed here. Add this "
                        f"statement to it before deploying, or the event actions of {constructs} fail with "
                        f"InsufficientS3BucketPolicy: {json.dumps(wanted)}"
                    ),
                )
        bucket_name, dependency, constructs = known
        constructs.append(construct_id)
        return bucket_name, dependency

    def _allow_data_exchange_to_write(self, bucket: s3.IBucket) -> CfnResource | None:
        result = bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(DATA_SERVICE_PRINCIPAL)],
                actions=WRITE_ACTIONS,
                resources=[bucket.arn_for_objects("*")],
                conditions={"StringEquals": {"aws:SourceAccount": self._stack.account}},
            )
        )
        if not result.statement_added or result.policy_dependable is None:
            return None
        policy = result.policy_dependable
        child = policy.node.default_child if isinstance(policy, Construct) else None
        return child if isinstance(child, CfnResource) else None

    def allow_key(self, key: kms.IKey, construct_id: str) -> None:
        """Creating an SSE-KMS event action makes Data Exchange take a grant on the key as the caller, and
        deleting it revokes that grant (the native AWS::DataExchange::EventAction handler needs both). An
        imported key's policy cannot be changed here: one warning per key names every construct using it."""
        from aws_cdk import aws_kms as kms

        key_arn = key.key_arn
        if key_arn not in self._keys:
            self._keys.add(key_arn)
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant", "kms:RevokeGrant"],
                    resources=[key_arn],
                    conditions=GRANT_FOR_AWS_RESOURCE,
                )
            )
        if isinstance(key, kms.Key):
            return
        constructs = self._imported_keys.get(key)
        if constructs is None:
            constructs = self._imported_keys[key] = []
            shown, roles = _shown(key_arn, "<key-arn>"), self.node.path
            _warn_once(
                key,
                KEY_POLICY_WARNING_ID,
                constructs,
                lambda names: (
                    f"Key {shown} is imported, so its key policy cannot be changed here. It must let the "
                    f"roles of {roles} use it, or the event actions of {names} fail: {KEY_USE}"
                ),
            )
        constructs.append(construct_id)

    def allow_data_set_name_lookup(self, data_set_id: str) -> None:
        """A key pattern with ${DataSet.Name} makes the service read the data set as the caller (`*`: any
        data set, for a product's)."""
        if data_set_id in self._data_sets:
            return
        self._data_sets.add(data_set_id)
        which = (
            "a product's data sets are known only when the handler lists them"
            if data_set_id == "*"
            else "the statement names the one data set"
        )
        self._allow(
            ["dataexchange:GetDataSet"],
            self.data_set_arn(data_set_id),
            f"An entitled data set belongs to its provider's account, which the subscriber cannot name; {which}; "
            "it allows only dataexchange:GetDataSet.",
        )

    def allow_product_reconciles(self) -> None:
        """What following a product needs: listing the account's entitled data sets, and reporting a
        reconcile after the deploy on the default event bus."""
        if self._follows_products:
            return
        self._follows_products = True
        self._unscoped.add_statements(iam.PolicyStatement(actions=["dataexchange:ListDataSets"], resources=["*"]))
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[self._stack.format_arn(service="events", resource="event-bus", resource_name="default")],
            )
        )

    def _allow(self, actions: list[str], resource: str, wildcard_reason: str) -> None:
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
        acknowledge_wildcard(self.role, resource, wildcard_reason)

    def _partition(self) -> str:
        region = self._stack.region
        partition = None if Token.is_unresolved(region) else RegionInfo.get(region).partition
        return partition or "<partition>"


def _shown(value: str, placeholder: str) -> str:
    """A value for a message: itself, or a placeholder while it is known only at deploy time."""
    return placeholder if Token.is_unresolved(value) else value


def _warn_once(scope: IConstruct, warning_id: str, constructs: list[str], message: Callable[[str], str]) -> None:
    """A warning on `scope` that names every construct in `constructs`, added once they are all there."""
    Aspects.of(scope).add(_Warning(scope, warning_id, constructs, message))


@jsii.implements(IAspect)
class _Warning:
    def __init__(
        self, scope: IConstruct, warning_id: str, constructs: list[str], message: Callable[[str], str]
    ) -> None:
        self._scope, self._id, self._constructs, self._message = scope, warning_id, constructs, message
        self._warned = False

    def visit(self, node: IConstruct) -> None:
        if self._warned:
            return
        self._warned = True
        Annotations.of(self._scope).add_warning_v2(self._id, self._message(", ".join(self._constructs)))
