"""The one handler function per stack that serves every AutoExportEventAction in it, with its role and log group.

Everything a construct asks of it (the bucket statement, a key, a data set name, the stack) is found or
added once per stack, bucket, key or data set, and looked up in Python afterwards: with a hundred
constructs in a stack, what each one costs at synth is what matters.
"""

from __future__ import annotations

import json
import weakref
from typing import TYPE_CHECKING

import jsii
from aws_cdk import Annotations, Aspects, CfnResource, IAspect, Stack, Token
from constructs import Construct, IConstruct

from ._bundling import HandlerAsset
from ._function import LambdaFunction
from ._nag import acknowledge_wildcard

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

HANDLER_TIMEOUT_SECONDS = 60
DATA_SERVICE_PRINCIPAL = "dataexchange.amazonaws.com"
WRITE_ACTIONS = ["s3:PutObject", "s3:PutObjectAcl"]
BUCKET_POLICY_WARNING_ID = "@cdk-dataexchange-auto-export/bucketPolicy"

# Scope -> the provider of its stack, so that a construct does not look up its stack each time.
_providers: weakref.WeakKeyDictionary[IConstruct, AutoExportEventActionProvider] = weakref.WeakKeyDictionary()


class AutoExportEventActionProvider(Construct):
    """The Lambda function, role and log group shared by every AutoExportEventAction in a stack.

    `function`, `role` and `log_group` are the CloudFormation resources; `role_scope` is the construct
    that holds the role and its policy.
    """

    ID = "AutoExportEventActionProvider"

    @classmethod
    def of(cls, scope: IConstruct) -> AutoExportEventActionProvider:
        found = _providers.get(scope)
        if found is None:
            stack = Stack.of(scope)
            found = _providers.get(stack)
            if found is None:
                existing = stack.node.try_find_child(cls.ID)
                found = existing if isinstance(existing, cls) else cls(stack, cls.ID)
                _providers[stack] = found
            _providers[scope] = found
        return found

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.stack = Stack.of(self)
        # Shared with the backfill worker, if the stack has one: one asset, staged once.
        self.asset = HandlerAsset(self, "Code")
        handler = LambdaFunction(
            self,
            "Handler",
            asset=self.asset,
            handler="dataexchange_auto_export_handler.index.handler",
            description="Custom::DataExchangeEventAction handler (AutoExportEventAction)",
            role_description="Creates, updates and deletes Data Exchange event actions for AutoExportEventAction",
            memory_mb=128,
            timeout_seconds=HANDLER_TIMEOUT_SECONDS,
        )
        self.handler = handler
        self.function, self.role, self.log_group = handler.function, handler.role, handler.log_group
        self.role_scope = handler.role_scope
        self.service_token = handler.arn
        # Ids are assigned by the service at creation, so no narrower pattern exists.
        self.event_actions = self.stack.format_arn(service="dataexchange", resource="event-actions", resource_name="*")
        handler.policy.allow(
            [
                "dataexchange:CreateEventAction",
                "dataexchange:GetEventAction",
                "dataexchange:UpdateEventAction",
                "dataexchange:DeleteEventAction",
                "dataexchange:TagResource",
                "dataexchange:UntagResource",
            ],
            [self.event_actions],
        )
        acknowledge_wildcard(
            self.role_scope,
            self.event_actions,
            "Event action ids are assigned by the service at creation, so the role cannot name them in advance; "
            "the wildcard is limited to event actions of this stack's account and region.",
        )
        # ListEventActions supports no resource-level permissions: "*" is the only resource it accepts.
        handler.policy.allow(["dataexchange:ListEventActions"], ["*"])
        acknowledge_wildcard(
            self.role_scope,
            "*",
            "dataexchange:ListEventActions supports no resource-level permissions; the statement allows only "
            "that read-only action, which a repeated Create uses to find the event action it already made.",
        )
        self._keys: set[str] = set()
        self._data_sets: set[str] = set()
        self._buckets: dict[s3.IBucket, tuple[str, CfnResource | None, list[str]]] = {}

    def bucket(self, bucket: s3.IBucket, construct_id: str) -> tuple[str, CfnResource | None]:
        """The bucket's name, and what an event action exporting to it must depend on: the statement that
        lets Data Exchange write, added to its policy once, or None for an imported bucket, whose policy
        cannot be changed here (one warning per bucket then names every construct that needs it)."""
        known = self._buckets.get(bucket)
        if known is None:
            known = (bucket.bucket_name, self._allow_data_exchange_to_write(bucket), [])
            self._buckets[bucket] = known
            if known[1] is None:
                Aspects.of(bucket).add(_BucketPolicyWarning(bucket, known[0], self.stack.account, known[2]))
        name, dependency, constructs = known
        constructs.append(construct_id)
        return name, dependency

    def _allow_data_exchange_to_write(self, bucket: s3.IBucket) -> CfnResource | None:
        from aws_cdk import aws_iam as iam

        result = bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(DATA_SERVICE_PRINCIPAL)],
                actions=WRITE_ACTIONS,
                resources=[bucket.arn_for_objects("*")],
                conditions={"StringEquals": {"aws:SourceAccount": self.stack.account}},
            )
        )
        if not result.statement_added or result.policy_dependable is None:
            return None
        policy = result.policy_dependable
        child = policy.node.default_child if isinstance(policy, Construct) else None
        return child if isinstance(child, CfnResource) else None

    def data_set_arn(self, data_set_id: str) -> str:
        """An entitled data set belongs to the provider's account, which the subscriber cannot name."""
        return self.stack.format_arn(
            service="dataexchange", account="*", resource="data-sets", resource_name=data_set_id
        )

    def allow_key(self, key: kms.IKey) -> None:
        """Creating an SSE-KMS event action makes Data Exchange take a grant on the key as the caller,
        and deleting it revokes that grant (the native AWS::DataExchange::EventAction handler needs both)."""
        key_arn = key.key_arn
        if key_arn not in self._keys:
            self._keys.add(key_arn)
            self.handler.policy.allow(["kms:CreateGrant", "kms:RevokeGrant"], [key_arn])

    def allow_data_set_name_lookup(self, data_set_id: str) -> None:
        """A key pattern with ${DataSet.Name} makes the service read the data set as the caller."""
        if data_set_id in self._data_sets:
            return
        self._data_sets.add(data_set_id)
        data_set = self.data_set_arn(data_set_id)
        self.handler.policy.allow(["dataexchange:GetDataSet"], [data_set])
        acknowledge_wildcard(
            self.role_scope,
            data_set,
            "An entitled data set belongs to its provider's account, which the subscriber cannot name; "
            "the statement names the one data set and allows only dataexchange:GetDataSet.",
        )


@jsii.implements(IAspect)
class _BucketPolicyWarning:
    """Warns, once the constructs are all there, that an imported bucket needs a statement in its policy."""

    def __init__(self, bucket: s3.IBucket, name: str, account: str, constructs: list[str]) -> None:
        self._bucket, self._name, self._account, self._constructs = bucket, name, account, constructs
        self._warned = False

    def visit(self, node: IConstruct) -> None:
        if self._warned:
            return
        self._warned = True
        name = "<bucket-name>" if Token.is_unresolved(self._name) else self._name
        account = "<account-id>" if Token.is_unresolved(self._account) else self._account
        wanted = {
            "Effect": "Allow",
            "Principal": {"Service": DATA_SERVICE_PRINCIPAL},
            "Action": WRITE_ACTIONS,
            "Resource": f"arn:aws:s3:::{name}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        }
        Annotations.of(self._bucket).add_warning_v2(
            BUCKET_POLICY_WARNING_ID,
            f"Bucket {name} is imported, so its policy cannot be changed here. Add this statement to it before "
            f"deploying, or the event actions of {', '.join(self._constructs)} fail with InsufficientS3BucketPolicy: "
            f"{json.dumps(wanted)}",
        )
