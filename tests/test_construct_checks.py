"""What would fail at deploy, or cost more than it should, fails or warns at synth with the number that decides it;
every warning prints real values and can be acknowledged by its id."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import botocore.session
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match
from support import ACCOUNT, DATA_SET, ENV, OTHER_DATA_SET, REGION

from cdk_dataexchange_auto_export import AutoExportEventAction, AutoExportProduct
from cdk_dataexchange_auto_export._bucket_access import BUCKET_POLICY_WARNING_ID
from cdk_dataexchange_auto_export._checks import (
    DATA_EXCHANGE_REGIONS,
    EVENT_ACTIONS_PER_DATA_SET_CONTEXT,
    RECONCILE_SCHEDULE_WARNING_ID,
    runs_per_month,
)
from cdk_dataexchange_auto_export._key_access import KEY_POLICY_WARNING_ID

PRODUCT = "prod-uexample0abc1d"
ANY = Match.any_value()


def errors(stack: cdk.Stack) -> dict[str, str]:
    """Construct path -> its error's text (synthesizes the app)."""
    return {m.id.lstrip("/"): str(m.entry.data) for m in Annotations.from_stack(stack).find_error("*", ANY)}


def warnings(stack: cdk.Stack, warning_id: str) -> list[str]:
    return [
        str(m.entry.data)
        for m in Annotations.from_stack(stack).find_warning("*", ANY)
        if str(m.entry.data).endswith(f"[ack: {warning_id}]")
    ]


# --- more event actions on one data set than Data Exchange allows ---------------------------------------------------


def exports_of_one_data_set(app: cdk.App, per_stack: tuple[int, int], envs: tuple[Any, Any] = (ENV, ENV)) -> None:
    """Constructs on DATA_SET, each to a key pattern of its own, in two stacks."""
    for name, count, env in zip(("First", "Second"), per_stack, envs, strict=True):
        stack = cdk.Stack(app, name, env=env)
        bucket = s3.Bucket(stack, "Destination")
        for index in range(count):
            AutoExportEventAction(
                stack, f"Export{index}", data_set_id=DATA_SET, bucket=bucket, key_pattern=f"{index}/${{Asset.Id}}"
            )


def test_a_sixth_event_action_on_a_data_set_in_one_app_is_an_error_naming_all_six(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    # Given six constructs on one data set, across two stacks of one account and Region
    app = new_cdk_app()
    exports_of_one_data_set(app, (4, 2))
    # Then the sixth, and only it, is an error that names the six, the quota and how to raise it
    first, second = (app.node.find_child(name) for name in ("First", "Second"))
    assert isinstance(first, cdk.Stack) and isinstance(second, cdk.Stack)
    assert errors(first) == {}
    (message,) = errors(second).values()
    assert list(errors(second)) == ["Second/Export1"]
    paths = ", ".join([*(f"First/Export{i}" for i in range(4)), "Second/Export0", "Second/Export1"])
    assert message.startswith(f"6 event actions of this app's constructs export data set {DATA_SET} in one account")
    assert f"({paths})" in message
    assert "Data Exchange allows 5 per data set ('Auto export event actions per data set' in Service Quotas)" in message
    assert EVENT_ACTIONS_PER_DATA_SET_CONTEXT in message


@pytest.mark.parametrize(
    ("per_stack", "envs", "context"),
    [
        ((3, 2), (ENV, ENV), {}),
        ((4, 2), (ENV, cdk.Environment(account=ACCOUNT, region="us-east-1")), {}),
        ((4, 2), (ENV, cdk.Environment(account="222222222222", region=REGION)), {}),
        ((4, 2), (ENV, ENV), {EVENT_ACTIONS_PER_DATA_SET_CONTEXT: "6"}),
    ],
    ids=["five", "two-regions", "two-accounts", "raised-quota"],
)
def test_event_actions_within_the_quota_of_each_account_and_region_are_no_error(
    new_cdk_app: Callable[..., cdk.App], per_stack: tuple[int, int], envs: tuple[Any, Any], context: dict[str, str]
) -> None:
    app = new_cdk_app(context={"aws:cdk:disable-stack-trace": True, **context})
    exports_of_one_data_set(app, per_stack, envs)
    stacks = [child for child in app.node.children if isinstance(child, cdk.Stack)]
    assert [errors(stack) for stack in stacks] == [{}, {}]


# --- two constructs exporting a data set to the same destination ---------------------------------------------------


def test_two_constructs_on_the_same_data_set_and_destination_are_an_error_naming_both(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    # Given, in one account and Region, two stacks exporting OTHER_DATA_SET to one imported bucket (one with the
    # default key pattern spelled out), and one stack exporting DATA_SET twice to its own bucket
    app = new_cdk_app()
    first, second = cdk.Stack(app, "First", env=ENV), cdk.Stack(app, "Second", env=ENV)
    for stack, key_pattern in ((first, None), (second, "${Revision.CreatedAt}/${Asset.Name}")):
        existing = s3.Bucket.from_bucket_name(stack, "Existing", "existing-bucket")
        AutoExportEventAction(stack, "Other", data_set_id=OTHER_DATA_SET, bucket=existing, key_pattern=key_pattern)
    bucket = s3.Bucket(first, "Destination")
    AutoExportEventAction(first, "Once", data_set_id=DATA_SET, bucket=bucket)
    AutoExportEventAction(first, "Twice", data_set_id=DATA_SET, bucket=bucket)
    AutoExportEventAction(first, "Elsewhere", data_set_id=DATA_SET, bucket=bucket, key_pattern="b/${Asset.Id}")
    # Then the second of each pair is an error naming both, the data set and the destination
    assert errors(second) == {
        "Second/Other": (
            f"Second/Other and First/Other both export data set {OTHER_DATA_SET} to bucket existing-bucket, key "
            "pattern ${Revision.CreatedAt}/${Asset.Name}, SSE-S3: every revision would be exported twice to the "
            "same keys (or the second event action refused at deploy without adopt_existing). Remove one, or give "
            "it another bucket or key pattern"
        )
    }
    assert list(errors(first)) == ["First/Twice"]
    assert errors(first)["First/Twice"].startswith(
        f"First/Twice and First/Once both export data set {DATA_SET} to bucket First/Destination, key pattern"
    )


def test_data_sets_known_only_at_deploy_are_left_to_the_service(new_cdk_app: Callable[..., cdk.App]) -> None:
    stack = cdk.Stack(new_cdk_app(), "Parameters", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    for index in range(6):
        data_set_id = cdk.CfnParameter(stack, f"DataSet{index}").value_as_string
        AutoExportEventAction(stack, f"Export{index}", data_set_id=data_set_id, bucket=bucket)
    assert errors(stack) == {}


# --- keys and topics that cannot work ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alias",
    [
        lambda stack: kms.Alias.from_alias_name(stack, "Alias", "alias/exports"),
        lambda stack: kms.Alias(stack, "Alias", alias_name="alias/exports", target_key=kms.Key(stack, "Key")),
    ],
    ids=["imported", "of-this-app"],
)
def test_a_kms_alias_is_refused_naming_it_even_where_its_arn_is_a_token(
    new_cdk_app: Callable[..., cdk.App], alias: Callable[[cdk.Stack], kms.IAlias]
) -> None:
    # Given a stack whose account and Region are known only at deploy: the alias's ARN is all tokens but its name
    stack = cdk.Stack(new_cdk_app(), "Agnostic")
    with pytest.raises(ValueError) as raised:
        AutoExportEventAction(
            stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"), encryption_key=alias(stack)
        )
    assert str(raised.value).startswith(
        "Agnostic/Export: encryption_key is the KMS alias alias/exports, not a key: Data Exchange encrypts the "
        "exports with a key named by its key ARN"
    )
    assert "<key-arn>" not in str(raised.value)


def test_an_alert_topic_under_the_aws_managed_sns_key_is_refused(new_cdk_app: Callable[..., cdk.App]) -> None:
    stack = cdk.Stack(new_cdk_app(), "Alerts", env=ENV)
    managed = kms.Alias.from_alias_name(stack, "SnsKey", "alias/aws/sns")
    topic = sns.Topic(stack, "Topic", master_key=managed)
    with pytest.raises(ValueError) as raised:
        AutoExportEventAction(
            stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"), alert_topic=topic
        )
    assert str(raised.value) == (
        "Alerts/Export: alert_topic Alerts/Topic is encrypted with the AWS managed key alias/aws/sns, whose key "
        "policy does not let EventBridge use it: every alert would be lost. Encrypt the topic with a customer "
        "managed key (kms.Key), which the construct lets EventBridge use"
    )


def test_alert_topics_under_a_key_of_yours_or_imported_are_taken(new_cdk_app: Callable[..., cdk.App]) -> None:
    stack = cdk.Stack(new_cdk_app(), "Alerts", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    mine = sns.Topic(stack, "Mine", master_key=kms.Key(stack, "TopicKey"))
    imported = sns.Topic.from_topic_arn(stack, "Imported", f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts")
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=bucket, alert_topic=mine)
    AutoExportEventAction(stack, "Other", data_set_id=OTHER_DATA_SET, bucket=bucket, alert_topic=imported)
    assert errors(stack) == {}


# --- Regions ----------------------------------------------------------------------------------------------------


def test_a_stack_in_a_region_without_data_exchange_is_an_error_naming_the_regions_that_have_it(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    app = new_cdk_app()
    elsewhere = cdk.Stack(app, "Elsewhere", env=cdk.Environment(account=ACCOUNT, region="ap-south-2"))
    agnostic, offered = cdk.Stack(app, "Agnostic"), cdk.Stack(app, "Offered", env=ENV)
    for stack in (elsewhere, agnostic, offered):
        AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"))
    assert errors(elsewhere) == {
        "Elsewhere/Export": (
            "Data Exchange is not offered in ap-south-2, this stack's Region: the event actions cannot be made there. "
            "Deploy the stack in the Region where the provider published the data set, one of ap-northeast-1, "
            "ap-northeast-2, ap-southeast-1, ap-southeast-2, eu-central-1, eu-west-1, eu-west-2, us-east-1, "
            "us-east-2, us-west-1, us-west-2"
        )
    }
    assert errors(agnostic) == errors(offered) == {}


def test_the_regions_are_those_botocores_endpoint_data_gives_data_exchange() -> None:
    session = botocore.session.get_session()
    regions = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("dataexchange", partition_name=partition)
    }
    assert sorted(regions) == list(DATA_EXCHANGE_REGIONS)


# --- a product reconciled more often than hourly ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("rate(1 minute)", 43_200),
        ("rate(5 minutes)", 8_640),
        ("rate(1 hour)", 720),
        ("rate(6 hours)", 120),
        ("rate(1 day)", 30),
        ("cron(0/5 * * * ? *)", 8_640),
        ("cron(0,30 * * * ? *)", 1_440),
        ("cron(0 */2 * * ? *)", 360),
        ("cron(* 9 ? * MON-FRI *)", 1_286),
        ("cron(15 8 1 * ? *)", 1),
        ("cron(0 8 ? JAN-MAR 2#1 *)", 1),
        ("at(2026-12-24T18:00:00)", None),
    ],
)
def test_a_schedules_runs_in_a_30_day_month(expression: str, runs: int | None) -> None:
    assert runs_per_month(expression) == runs


def product_with(stack: cdk.Stack, schedule: events.Schedule | None) -> AutoExportProduct:
    return AutoExportProduct(
        stack, "Product", product_id=PRODUCT, bucket=s3.Bucket(stack, "Destination"), reconcile_schedule=schedule
    )


def test_a_reconcile_more_often_than_hourly_warns_with_its_invocations_a_month(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Frequent", env=ENV)
    product_with(stack, events.Schedule.cron(minute="0/5"))
    (warning,) = warnings(stack, RECONCILE_SCHEDULE_WARNING_ID)
    assert warning.startswith(
        "reconcile_schedule cron(0/5 * * * ? *) runs the product's reconcile about 8,640 times a 30-day month, more "
        "often than hourly (720; the default, daily, is 30)"
    )


@pytest.mark.parametrize(
    "schedule", [None, events.Schedule.rate(cdk.Duration.hours(1))], ids=["default-daily", "hourly"]
)
def test_an_hourly_or_daily_reconcile_is_no_warning(
    new_cdk_app: Callable[..., cdk.App], schedule: events.Schedule | None
) -> None:
    stack = cdk.Stack(new_cdk_app(), "Quiet", env=ENV)
    product_with(stack, schedule)
    assert warnings(stack, RECONCILE_SCHEDULE_WARNING_ID) == []


# --- every warning: real values, acknowledged by its id ------------------------------------------------------------


def imported_everything(stack: cdk.Stack) -> None:
    """An imported bucket and key named by parameters, and a product reconciled every minute."""
    bucket = s3.Bucket.from_bucket_name(stack, "Existing", cdk.CfnParameter(stack, "BucketName").value_as_string)
    key = kms.Key.from_key_arn(stack, "ExistingKey", cdk.CfnParameter(stack, "KeyArn").value_as_string)
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=bucket, encryption_key=key)
    AutoExportProduct(
        stack,
        "Product",
        product_id=PRODUCT,
        bucket=bucket,
        reconcile_schedule=events.Schedule.rate(cdk.Duration.minutes(1)),
    )


WARNING_IDS = (BUCKET_POLICY_WARNING_ID, KEY_POLICY_WARNING_ID, RECONCILE_SCHEDULE_WARNING_ID)


def test_warnings_print_what_the_template_holds_for_values_known_only_at_deploy(
    new_cdk_app: Callable[..., cdk.App],
) -> None:
    # Given a stack of unknown account and Region, whose bucket and key are parameters
    stack = cdk.Stack(new_cdk_app(), "Agnostic")
    imported_everything(stack)
    bucket_warning, key_warning = (warnings(stack, id)[0] for id in WARNING_IDS[:2])
    # Then no placeholder: the parameters and the stack's account and partition as the template has them
    for warning in (bucket_warning, key_warning):
        assert not re.search(r"<[a-z-]+>", warning), warning
    assert bucket_warning.startswith('Bucket {"Ref": "BucketName"} is imported')
    assert '"aws:SourceAccount": {"Ref": "AWS::AccountId"}' in bucket_warning
    assert '{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "BucketName"}, "/*"]]}' in (
        bucket_warning
    )
    assert key_warning.startswith('Key {"Ref": "KeyArn"} is imported')


def test_every_warning_is_acknowledged_by_its_id(new_cdk_app: Callable[..., cdk.App]) -> None:
    warned = cdk.Stack(new_cdk_app(), "Warned")
    imported_everything(warned)
    assert [len(warnings(warned, id)) for id in WARNING_IDS] == [1, 1, 1]

    acknowledged = cdk.Stack(new_cdk_app(), "Acknowledged")
    imported_everything(acknowledged)
    for warning_id in WARNING_IDS:
        cdk.Annotations.of(acknowledged).acknowledge_warning(warning_id, "known and handled")
    assert Annotations.from_stack(acknowledged).find_warning("*", ANY) == []
