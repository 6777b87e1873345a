"""The Lambda function that serves the custom resources of AutoExportEventAction and AutoExportProduct, with its
role and log group, and the backfill worker beside it once a construct asks for existing revisions.

A stack has one shared provider (`AutoExportEventActionProvider.of`), made on first use; a provider of the user's
own carries settings (a VPC, a log group) to both of its functions. What a construct asks of a provider (a
bucket, a key, a data set's name, a product) is added once per bucket, key, data set or provider, by the module
named for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from dataexchange_auto_export_handler.contract import BACKFILL_FUNCTION_VARIABLE

from ._asset import handler_code
from ._bucket_access import BucketAccess
from ._findings import acknowledge_wildcard, skip_checkov
from ._function import FunctionSettings, provider_function
from ._handler_permissions import HandlerPermissions
from ._key_access import KeyAccess
from .backfill_worker import BackfillWorker

HANDLER_TIMEOUT = Duration.seconds(60)


class AutoExportEventActionProvider(Construct):
    """The Lambda function behind AutoExportEventAction and AutoExportProduct custom resources, with its role and
    log group.

    Every construct of a stack shares one, ``AutoExportEventActionProvider.of(stack)``, unless given one of the
    user's own with ``provider=``. The provider's settings apply to the backfill worker too, which it makes when a
    construct asks for existing revisions.

    Where no prop exists, ``function``, ``role`` and ``log_group`` are the way in: ``grant_invoke``,
    ``metric_errors()``, ``node.default_child`` overrides, statements added to the role (in place before the
    function is created, as aws_lambda arranges).
    """

    ID = "AutoExportEventActionProvider"

    @classmethod
    def of(cls, scope: IConstruct) -> AutoExportEventActionProvider:
        """The stack's shared provider, made on first use."""
        stack = Stack.of(scope)
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
        self._settings = FunctionSettings(vpc, vpc_subnets, security_groups, log_group)
        self._code = handler_code()
        handler, role = provider_function(
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
            handler,
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
        self._handler = handler
        self.service_token: str = handler.function_arn
        """What a custom resource of this provider names as its ServiceToken: the handler's ARN."""
        self.function: lambda_.IFunction = handler
        """The custom resource handler (its ``node.default_child`` is the ``CfnFunction``)."""
        self.role: iam.IRole = role
        """The handler's role."""
        self.log_group: logs.ILogGroup = handler.log_group
        """Where the handler logs."""
        self.permissions = HandlerPermissions(role)
        """What the handler may do, added as constructs ask (a data set's name, a product)."""
        self._buckets = BucketAccess(Stack.of(self))
        self._keys = KeyAccess(role, self.node.path)
        self._worker: BackfillWorker | None = None

    @property
    def backfill_function(self) -> lambda_.IFunction | None:
        """The backfill worker, once a construct asks for existing revisions; None before."""
        return self._worker.function if self._worker else None

    @property
    def backfill_role(self) -> iam.IRole | None:
        """The backfill worker's role; None without a worker."""
        return self._worker.role if self._worker else None

    @property
    def backfill_log_group(self) -> logs.ILogGroup | None:
        """Where the backfill worker logs; None without a worker."""
        return self._worker.function.log_group if self._worker else None

    def allow_bucket(self, bucket: s3.IBucket, construct: IConstruct) -> CfnResource | None:
        """Lets Data Exchange write to the bucket for `construct`; returns what its resource must depend on."""
        return self._buckets.allow(bucket, construct)

    def allow_key(self, key: kms.IKey, construct: IConstruct) -> None:
        """Lets the handler have Data Exchange take and revoke its grant on the key for `construct`."""
        self._keys.allow(key, construct)

    def backfill_worker(self) -> BackfillWorker:
        """The worker that exports existing revisions, with this provider's settings, made on first use."""
        if self._worker is None:
            # The stack's shared provider keeps its worker where releases before 2.0 made it, so that an
            # upgrade keeps its logical ids; a provider of the user's own holds its worker.
            stack = Stack.of(self)
            shared = self.node.scope is stack and self.node.id == self.ID
            scope, id = (stack, BackfillWorker.ID) if shared else (self, "BackfillWorker")
            self._worker = BackfillWorker(scope, id, self._settings, self._code)
            worker = self._worker.function
            self._handler.add_environment(BACKFILL_FUNCTION_VARIABLE, worker.function_arn)
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
