"""A Lambda function with a role, a policy and a log group of its own, made of CloudFormation (L1) resources.

What `aws_lambda.Function`, `aws_iam.Role` and `aws_logs.LogGroup` would synthesize, to the logical id,
without their Python modules: importing `aws_cdk.aws_lambda` alone costs a third of a second of every
`cdk synth`, and each statement added through an L2 policy costs round trips into jsii. Statements and
environment variables are kept here and rendered once, when the stack is synthesized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import CfnResource, IAnyProducer, IResolveContext, Lazy, RemovalPolicy
from constructs import Construct

from ._bundling import HandlerAsset

RUNTIME = "python3.14"  # the newest Python runtime aws-cdk-lib offers (a test keeps this true)
LOG_RETENTION_DAYS = 30


def statement(
    actions: Sequence[str], resources: Sequence[str], conditions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An Allow statement as aws_iam renders one: a single action or resource as a string."""
    rendered: dict[str, Any] = {
        "Effect": "Allow",
        "Action": actions[0] if len(actions) == 1 else list(actions),
        "Resource": resources[0] if len(resources) == 1 else list(resources),
    }
    if conditions:
        rendered["Condition"] = dict(conditions)
    return rendered


@jsii.implements(IAnyProducer)
class _Rendered:
    """A value rendered when the stack is resolved, each time: statements may still be added after a first synth."""

    def __init__(self, render: Any) -> None:
        self._render = render

    def produce(self, context: IResolveContext) -> Any:
        return self._render()


class Policy:
    """An AWS::IAM::Policy for `roles` whose statements are added in Python, each once."""

    def __init__(self, scope: Construct, id: str, roles: Sequence[CfnResource]) -> None:
        self.statements: list[dict[str, Any]] = []
        holder = Construct(scope, id)
        self.resource = CfnResource(holder, "Resource", type="AWS::IAM::Policy")
        self.resource.add_property_override("PolicyName", self.resource.logical_id)
        self.resource.add_property_override("Roles", [{"Ref": role.logical_id} for role in roles])
        document = _Rendered(lambda: {"Statement": self.statements, "Version": "2012-10-17"})
        self.resource.add_property_override("PolicyDocument", Lazy.uncached_any(document))

    def allow(
        self, actions: Sequence[str], resources: Sequence[str], conditions: Mapping[str, Any] | None = None
    ) -> None:
        rendered = statement(actions, resources, conditions)
        if rendered not in self.statements:
            self.statements.append(rendered)


class LambdaFunction:
    """`function` (AWS::Lambda::Function) at `<scope>/<id>/Resource`, run as `role` (at `Role/Resource`) with
    the statements of `policy` (`Role/DefaultPolicy/Resource`), logging to `log_group` (`LogGroup/Resource`,
    kept when the stack goes, as aws_logs keeps it). The function waits for its role and policy."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        asset: HandlerAsset,
        handler: str,
        description: str,
        role_description: str,
        memory_mb: int,
        timeout_seconds: int,
    ) -> None:
        self.log_group = CfnResource(
            Construct(scope, "LogGroup"),
            "Resource",
            type="AWS::Logs::LogGroup",
            properties={"RetentionInDays": LOG_RETENTION_DAYS},
        )
        self.log_group.apply_removal_policy(RemovalPolicy.RETAIN)
        self.role_scope = Construct(scope, "Role")
        self.role = CfnResource(
            self.role_scope,
            "Resource",
            type="AWS::IAM::Role",
            properties={
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Action": "sts:AssumeRole",
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                        }
                    ],
                    "Version": "2012-10-17",
                },
                "Description": role_description,
            },
        )
        self.policy = Policy(self.role_scope, "DefaultPolicy", [self.role])
        # A role of its own rather than AWSLambdaBasicExecutionRole: it may write to this log group only.
        self.policy.allow(["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.get_att("Arn").to_string()])
        self.environment: dict[str, str] = {}
        self.holder = Construct(scope, id)
        self.function = CfnResource(
            self.holder,
            "Resource",
            type="AWS::Lambda::Function",
            properties={
                "Architectures": ["arm64"],
                "Code": {"S3Bucket": asset.bucket_name, "S3Key": asset.object_key},
                "Description": description,
                "Environment": Lazy.uncached_any(
                    _Rendered(lambda: {"Variables": dict(self.environment)} if self.environment else None)
                ),
                "Handler": handler,
                "LoggingConfig": {"LogGroup": self.log_group.ref},
                "MemorySize": memory_mb,
                "Role": self.role.get_att("Arn").to_string(),
                "Runtime": RUNTIME,
                "Timeout": timeout_seconds,
            },
        )
        self.function.add_resource_dependency(self.policy.resource)
        self.function.add_resource_dependency(self.role)
        self.arn: str = self.function.get_att("Arn").to_string()
