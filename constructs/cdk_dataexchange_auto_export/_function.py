"""A provider function: aws_lambda's Function, run as an aws_iam Role of its own, logging to an aws_logs group,
in the network the provider was given. The custom resource handler and the backfill worker are both made here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._findings import acknowledge, acknowledge_wildcard

# The newest Python runtime aws-cdk-lib offers (a test keeps this true).
RUNTIME = lambda_.Runtime.PYTHON_3_14
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


@dataclass(frozen=True)
class FunctionSettings:
    """What a provider applies to each of its functions."""

    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] | None = None
    log_group: logs.ILogGroup | None = None


def provider_function(
    scope: Construct,
    function_id: str,
    *,
    settings: FunctionSettings,
    code: lambda_.Code,
    handler: str,
    description: str,
    role_description: str,
    memory_size: int,
    timeout: Duration,
    **function_props: object,
) -> tuple[lambda_.Function, iam.Role]:
    """The function at `<scope>/<function_id>` and its role at `<scope>/Role`; unless the settings name one,
    its log group is at `<scope>/LogGroup` (kept when the stack goes, as aws_logs keeps it)."""
    role = iam.Role(
        scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=role_description
    )
    log_group = settings.log_group or logs.LogGroup(
        scope, "LogGroup", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN
    )
    # A role of its own rather than AWSLambdaBasicExecutionRole: it may write to this log group only.
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        function_id,
        code=code,
        handler=handler,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        memory_size=memory_size,
        timeout=timeout,
        description=description,
        role=role,
        log_group=log_group,
        vpc=settings.vpc,
        vpc_subnets=settings.vpc_subnets,
        security_groups=settings.security_groups,
        **function_props,  # type: ignore[arg-type]
    )
    if settings.vpc is not None:
        # aws_lambda attaches this only to a role it makes itself: without it, the function cannot create its
        # network interfaces in the VPC.
        role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
            "AWS's policy for the network interfaces of a function in a VPC, as aws_lambda attaches it: its EC2 "
            "actions support no resource-level permissions, so a policy of the construct's own would allow the same.",
        )
    return function, role


def allow_unscoped(role: iam.Role, actions: Sequence[str], reason: str) -> iam.Policy:
    """Actions that support no resource-level permissions ("*" is the only resource they take), in a policy
    of their own under the role: cdk-nag's wildcard finding is acknowledged on that policy alone, so a "*"
    added to the role's default policy is still reported. The function depends on it, as on the role."""
    policy = iam.Policy(
        role, "UnscopedReads", roles=[role], statements=[iam.PolicyStatement(actions=list(actions), resources=["*"])]
    )
    acknowledge_wildcard(policy, "*", reason)
    return policy
