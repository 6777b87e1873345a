"""The props both constructs share, declared once (`ExportProps`), yet each a typed keyword of both constructors.

mypy checks this file as it checks the package (tests/test_code_quality.py): every `type: ignore[...]` below must
silence exactly the error it names, or mypy reports it as unused. So a shared prop that lost its keyword or its
type on either constructor fails the tests, as it would stop showing in a user's IDE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from cdk_dataexchange_auto_export import (
    AutoExportEventAction,
    AutoExportEventActionProvider,
    AutoExportProduct,
    ExistingRevisions,
    ExportProps,
)

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
PRODUCT = "prod-uexample0abc1d"
SHARED = {
    "bucket",
    "key_pattern",
    "encryption_key",
    "tags",
    "removal_policy",
    "adopt_existing",
    "export_existing_revisions",
    "alert_topic",
    "provider",
}


def wrongly_typed(stack: cdk.Stack, bucket: s3.IBucket) -> None:
    """Never run: what a type checker (and an IDE) says of a value of the wrong type for each shared prop."""
    AutoExportEventAction(stack, "A", data_set_id=DATA_SET, bucket="my-bucket")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "B", data_set_id=DATA_SET, bucket=bucket, key_pattern=1)  # type: ignore[arg-type]
    AutoExportEventAction(stack, "C", data_set_id=DATA_SET, bucket=bucket, encryption_key="alias/aws/s3")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "D", data_set_id=DATA_SET, bucket=bucket, tags=["team"])  # type: ignore[arg-type]
    AutoExportEventAction(stack, "E", data_set_id=DATA_SET, bucket=bucket, removal_policy="retain")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "F", data_set_id=DATA_SET, bucket=bucket, adopt_existing="yes")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "G", data_set_id=DATA_SET, bucket=bucket, export_existing_revisions="ALL")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "H", data_set_id=DATA_SET, bucket=bucket, alert_topic="arn:aws:sns:eu-west-1:1:t")  # type: ignore[arg-type]
    AutoExportEventAction(stack, "I", data_set_id=DATA_SET, bucket=bucket, provider=stack)  # type: ignore[arg-type]
    AutoExportEventAction(stack, "J", data_set_id=DATA_SET)  # type: ignore[call-arg]
    AutoExportEventAction(stack, "K", data_set_id=DATA_SET, bucket=bucket, bukcet=bucket)  # type: ignore[call-arg]
    AutoExportProduct(stack, "A", product_id=PRODUCT, bucket="my-bucket")  # type: ignore[arg-type]
    AutoExportProduct(stack, "B", product_id=PRODUCT, bucket=bucket, key_pattern=1)  # type: ignore[arg-type]
    AutoExportProduct(stack, "C", product_id=PRODUCT, bucket=bucket, encryption_key="alias/aws/s3")  # type: ignore[arg-type]
    AutoExportProduct(stack, "D", product_id=PRODUCT, bucket=bucket, tags=["team"])  # type: ignore[arg-type]
    AutoExportProduct(stack, "E", product_id=PRODUCT, bucket=bucket, removal_policy="retain")  # type: ignore[arg-type]
    AutoExportProduct(stack, "F", product_id=PRODUCT, bucket=bucket, adopt_existing="yes")  # type: ignore[arg-type]
    AutoExportProduct(stack, "G", product_id=PRODUCT, bucket=bucket, export_existing_revisions="ALL")  # type: ignore[arg-type]
    AutoExportProduct(stack, "H", product_id=PRODUCT, bucket=bucket, alert_topic="arn:aws:sns:eu-west-1:1:t")  # type: ignore[arg-type]
    AutoExportProduct(stack, "I", product_id=PRODUCT, bucket=bucket, provider=stack)  # type: ignore[arg-type]
    AutoExportProduct(stack, "J", product_id=PRODUCT)  # type: ignore[call-arg]
    AutoExportProduct(stack, "K", product_id=PRODUCT, bucket=bucket, bukcet=bucket)  # type: ignore[call-arg]


def test_the_shared_props_are_the_ones_declared_once() -> None:
    assert set(ExportProps.__annotations__) == SHARED


@pytest.mark.parametrize(
    ("name", "make"),
    [
        (
            "AutoExportEventAction",
            lambda s, **props: AutoExportEventAction(s, "E", data_set_id=DATA_SET, **props),
        ),
        ("AutoExportProduct", lambda s, **props: AutoExportProduct(s, "E", product_id=PRODUCT, **props)),
    ],
)
def test_a_misspelled_or_missing_keyword_fails_at_synth_naming_it(
    new_cdk_app: Callable[..., cdk.App], name: str, make: Callable[..., object]
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Misspelled")
    bucket = s3.Bucket(stack, "Destination")

    with pytest.raises(TypeError, match=rf"{name}\(\) got an unexpected keyword argument 'bukcet'"):
        make(stack, bucket=bucket, bukcet=bucket)
    with pytest.raises(TypeError, match=rf"{name}\(\) missing 1 required keyword-only argument: 'bucket'"):
        make(stack)


# --- at synth, each prop of the wrong type names itself, the type it takes and what it got --------------------------

KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def wrong(tmp_path_factory: pytest.TempPathFactory) -> cdk.Stack:
    """A stack the wrongly typed constructs are tried in (never synthesized), with a bucket and an imported key."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = cdk.Stack(app, "Wrong")
    s3.Bucket(stack, "Destination")
    kms.Key.from_key_arn(stack, "ImportedKey", KEY_ARN)
    return stack


def destination(stack: cdk.Stack) -> s3.IBucket:
    bucket = stack.node.find_child("Destination")
    assert isinstance(bucket, s3.Bucket)
    return bucket


WRONG_SHARED_PROPS: dict[str, tuple[Callable[[cdk.Stack], dict[str, Any]], str]] = {
    "bucket-name": (lambda s: {"bucket": "my-bucket"}, "bucket must be an aws_s3.IBucket, got str 'my-bucket'"),
    "bucket-dict": (
        lambda s: {"bucket": {"bucket_name": "my-bucket"}},
        "bucket must be an aws_s3.IBucket, got dict {'bucket_name': 'my-bucket'}",
    ),
    "bucket-a-key": (
        lambda s: {"bucket": s.node.find_child("ImportedKey")},
        "bucket must be an aws_s3.IBucket, got construct at Wrong/ImportedKey",
    ),
    "key-alias-name": (
        lambda s: {"encryption_key": "alias/aws/s3"},
        "encryption_key must be an aws_kms.IKey, got str 'alias/aws/s3'",
    ),
    "key-a-bucket": (
        lambda s: {"encryption_key": destination(s)},
        "encryption_key must be an aws_kms.IKey, got aws_s3.Bucket at Wrong/Destination",
    ),
    "key-pattern": (lambda s: {"key_pattern": 1}, "key_pattern must be a str, got int 1"),
    "tags-list": (lambda s: {"tags": ["team"]}, "tags must be a Mapping[str, str], got list ['team']"),
    "tag-value": (lambda s: {"tags": {"team": 1}}, "tags['team'] must be a str, got int 1"),
    "removal-policy": (
        lambda s: {"removal_policy": "retain"},
        "removal_policy must be a RemovalPolicy, got str 'retain'",
    ),
    "adopt-existing": (lambda s: {"adopt_existing": "yes"}, "adopt_existing must be a bool, got str 'yes'"),
    "existing-revisions": (
        lambda s: {"export_existing_revisions": "ALL"},
        "export_existing_revisions must be an ExistingRevisions, got str 'ALL'",
    ),
    "alert-topic-arn": (
        lambda s: {"alert_topic": "arn:aws:sns:eu-west-1:111111111111:alerts"},
        "alert_topic must be an aws_sns.ITopic, got str 'arn:aws:sns:eu-west-1:111111111111:alerts'",
    ),
    "provider-a-stack": (
        lambda s: {"provider": s},
        "provider must be an AutoExportEventActionProvider, got Stack at Wrong",
    ),
}
CONSTRUCTS: dict[str, Callable[..., object]] = {
    "AutoExportEventAction": lambda s, id, **props: AutoExportEventAction(s, id, data_set_id=DATA_SET, **props),
    "AutoExportProduct": lambda s, id, **props: AutoExportProduct(s, id, product_id=PRODUCT, **props),
}


@pytest.mark.parametrize("name", list(CONSTRUCTS))
@pytest.mark.parametrize("case", list(WRONG_SHARED_PROPS))
def test_a_shared_prop_of_the_wrong_type_fails_naming_the_prop_its_type_and_the_value(
    wrong: cdk.Stack, name: str, case: str
) -> None:
    props, message = WRONG_SHARED_PROPS[case]
    given = {"bucket": destination(wrong), **props(wrong)}
    with pytest.raises(TypeError) as raised:
        CONSTRUCTS[name](wrong, f"{name}-{case}", **given)
    assert str(raised.value) == f"Wrong/{name}-{case}: {message}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda s: AutoExportEventAction(s, "NoDataSet", data_set_id=None, bucket=destination(s)),  # type: ignore[arg-type]
            "Wrong/NoDataSet: data_set_id must be a str, got None",
        ),
        (
            lambda s: AutoExportEventAction(s, "NumberedDataSet", data_set_id=1, bucket=destination(s)),  # type: ignore[arg-type]
            "Wrong/NumberedDataSet: data_set_id must be a str, got int 1",
        ),
        (
            lambda s: AutoExportProduct(s, "NoProduct", product_id=None, bucket=destination(s)),  # type: ignore[arg-type]
            "Wrong/NoProduct: product_id must be a str, got None",
        ),
        (
            lambda s: AutoExportProduct(
                s,
                "CronString",
                product_id=PRODUCT,
                bucket=destination(s),
                reconcile_schedule="rate(1 day)",  # type: ignore[arg-type]
            ),
            "Wrong/CronString: reconcile_schedule must be an aws_events.Schedule, got str 'rate(1 day)'",
        ),
        (
            lambda s: AutoExportEventActionProvider(s, "VpcId", vpc="vpc-0123456789abcdef0"),  # type: ignore[arg-type]
            "Wrong/VpcId: vpc must be an aws_ec2.IVpc, got str 'vpc-0123456789abcdef0'",
        ),
        (
            lambda s: AutoExportEventActionProvider(s, "SubnetDict", vpc_subnets={"subnet_type": "PRIVATE_ISOLATED"}),  # type: ignore[arg-type]
            "Wrong/SubnetDict: vpc_subnets must be an aws_ec2.SubnetSelection, got dict "
            "{'subnet_type': 'PRIVATE_ISOLATED'}",
        ),
        (
            lambda s: AutoExportEventActionProvider(s, "GroupIds", security_groups=["sg-0123456789abcdef0"]),  # type: ignore[list-item]
            "Wrong/GroupIds: security_groups must be a Sequence[aws_ec2.ISecurityGroup], got list "
            "['sg-0123456789abcdef0']",
        ),
        (
            lambda s: AutoExportEventActionProvider(s, "OneGroup", security_groups=s.node.find_child("Destination")),
            "Wrong/OneGroup: security_groups must be a Sequence[aws_ec2.ISecurityGroup], got aws_s3.Bucket at "
            "Wrong/Destination",
        ),
        (
            lambda s: AutoExportEventActionProvider(s, "LogGroupName", log_group="/aws/lambda/exports"),  # type: ignore[arg-type]
            "Wrong/LogGroupName: log_group must be an aws_logs.ILogGroup, got str '/aws/lambda/exports'",
        ),
    ],
    ids=[
        "no-data-set",
        "numbered-data-set",
        "no-product",
        "schedule-string",
        "vpc-id",
        "subnets-dict",
        "group-ids",
        "one-group",
        "log-group-name",
    ],
)
def test_a_subject_schedule_or_provider_prop_of_the_wrong_type_fails_naming_it(
    wrong: cdk.Stack, make: Callable[[cdk.Stack], object], message: str
) -> None:
    with pytest.raises(TypeError) as raised:
        make(wrong)
    assert str(raised.value) == message


def test_l2s_imported_resources_and_jsii_proxies_are_taken_for_their_interfaces(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    # Given every kind of value a user passes: L2s, and imported resources (jsii proxies, the key and topic dynamic
    # proxies of several interfaces)
    stack = cdk.Stack(new_cdk_app(), "Right", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["eu-west-1a"],
        private_subnet_ids=["subnet-0123456789abcdef0"],
    )
    provider = AutoExportEventActionProvider(
        stack,
        "Provider",
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnets=vpc.private_subnets),
        security_groups=[ec2.SecurityGroup.from_security_group_id(stack, "Group", "sg-0123456789abcdef0")],
        log_group=logs.LogGroup.from_log_group_name(stack, "Logs", "/exports"),
    )
    imported_key = kms.Key.from_key_arn(stack, "ImportedKey", KEY_ARN)
    AutoExportEventAction(
        stack,
        "Imported",
        data_set_id=DATA_SET,
        bucket=s3.Bucket.from_bucket_name(stack, "Existing", "existing-bucket"),
        encryption_key=imported_key,
        alert_topic=sns.Topic.from_topic_arn(stack, "Alerts", "arn:aws:sns:eu-west-1:111111111111:alerts"),
        tags={"team": cdk.CfnParameter(stack, "Team").value_as_string},
        provider=provider,
    )
    AutoExportProduct(
        stack,
        "Owned",
        product_id=PRODUCT,
        bucket=s3.Bucket(stack, "Destination"),
        encryption_key=kms.Key(stack, "Key"),
        alert_topic=sns.Topic(stack, "Topic"),
        removal_policy=cdk.RemovalPolicy.RETAIN,
        adopt_existing=True,
        export_existing_revisions=ExistingRevisions.latest(3),
        reconcile_schedule=events.Schedule.rate(cdk.Duration.hours(6)),
    )
    # Then both synthesize
    Template.from_stack(stack).resource_count_is("Custom::DataExchangeEventAction", 1)
