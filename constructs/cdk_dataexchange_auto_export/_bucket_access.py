"""What exporting to a bucket needs of it: Data Exchange may write (the user guide's bucket policy statement),
added to a bucket of this app once, however many constructs export to it; an imported bucket's policy cannot
be changed here, so one warning names the statement and every construct that needs it."""

from __future__ import annotations

import json

from aws_cdk import CfnResource, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import RegionInfo
from constructs import Construct, IConstruct

from ._warnings import shown, warn_once

DATA_EXCHANGE = "dataexchange.amazonaws.com"
WRITE_ACTIONS = ["s3:PutObject", "s3:PutObjectAcl"]
BUCKET_POLICY_WARNING_ID = "@cdk-dataexchange-auto-export/bucketPolicy"


class BucketAccess:
    """The buckets a provider's constructs export to."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        # Bucket -> what an export to it depends on (its policy, or None), and the constructs of an imported one.
        self._buckets: dict[s3.IBucket, tuple[CfnResource | None, list[IConstruct]]] = {}

    def allow(self, bucket: s3.IBucket, construct: IConstruct) -> CfnResource | None:
        """What an event action exporting to `bucket` must depend on: its policy with Data Exchange's statement,
        or None for an imported bucket (whose warning then names `construct` too)."""
        if bucket not in self._buckets:
            policy = self._allow_data_exchange_to_write(bucket)
            constructs: list[IConstruct] = []
            self._buckets[bucket] = (policy, constructs)
            if policy is None:
                self._warn(bucket, constructs)
        policy, constructs = self._buckets[bucket]
        constructs.append(construct)
        return policy

    def _allow_data_exchange_to_write(self, bucket: s3.IBucket) -> CfnResource | None:
        result = bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(DATA_EXCHANGE)],
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

    def _warn(self, bucket: s3.IBucket, constructs: list[IConstruct]) -> None:
        name, account = shown(bucket.bucket_name, "<bucket-name>"), shown(self._stack.account, "<account-id>")
        region = self._stack.region
        partition = None if Token.is_unresolved(region) else RegionInfo.get(region).partition
        wanted = {
            "Effect": "Allow",
            "Principal": {"Service": DATA_EXCHANGE},
            "Action": WRITE_ACTIONS,
            "Resource": f"arn:{partition or '<partition>'}:s3:::{name}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        }
        warn_once(
            bucket,
            BUCKET_POLICY_WARNING_ID,
            constructs,
            lambda names: (
                f"Bucket {name} is imported, so its policy cannot be changed here. Add this statement to it before "
                f"deploying, or the event actions of {names} fail with InsufficientS3BucketPolicy: "
                f"{json.dumps(wanted)}"
            ),
        )
