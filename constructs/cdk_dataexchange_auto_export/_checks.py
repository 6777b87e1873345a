"""What would fail at deploy, or cost more than it should, caught at synth with the number that decides it.

A construct's own props are checked as it is made: a KMS alias as `encryption_key` (Data Exchange takes a key ARN),
an `alert_topic` under the AWS managed SNS key (EventBridge cannot use it), a product reconciled more often than
hourly. What takes the whole app (more event actions on one data set than the service allows, two constructs
exporting the same data set to the same destination) and the stacks' Regions (one without Data Exchange) are checked
once per app, across its stacks, by an aspect on the app (`AppChecks`), when the app synthesizes. Values that are tokens
at synth are skipped: they are known only at deploy.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import jsii
from aws_cdk import Annotations, Aspects, IAspect, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from dataexchange_auto_export_handler.export_settings import ExportSettings
from dataexchange_auto_export_handler.rules import PropertyError

from ._findings import flatten_cfn_reference
from ._warnings import shown

# The Regions botocore's endpoint data gives Data Exchange (botocore 1.44.8; tests/test_construct_checks.py keeps
# this list equal to the installed botocore's).
DATA_EXCHANGE_REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
# Service Quotas, AWS Data Exchange: "Auto export event actions per data set", 5 unless raised; a raised quota is
# given to the construct in this context key.
EVENT_ACTIONS_PER_DATA_SET = 5
EVENT_ACTIONS_PER_DATA_SET_CONTEXT = "@cdk-dataexchange-auto-export/eventActionsPerDataSet"
# An hourly reconcile in a 30-day month: a schedule that runs more often is warned of.
HOURLY_RUNS_PER_MONTH = 30 * 24
RECONCILE_SCHEDULE_WARNING_ID = "@cdk-dataexchange-auto-export/reconcileSchedule"
AWS_MANAGED_SNS_KEY = "alias/aws/sns"
_ALIAS = re.compile(r":(alias/[^:]+)$")


def check_encryption_key(scope: IConstruct, key_arn: str) -> None:
    """Raises PropertyError for a KMS alias's ARN, which is no key ARN, the only kind Data Exchange takes. An alias
    of a stack of unknown account or Region has tokens in its ARN (its name too, for one of this app), so the
    handler would refuse it only at deploy: the ARN is read as the template will hold it."""
    written = flatten_cfn_reference(Stack.of(scope).resolve(key_arn)) if Token.is_unresolved(key_arn) else key_arn
    alias = _ALIAS.search(written)
    if alias is not None:
        raise PropertyError(
            f"encryption_key is the KMS alias {alias.group(1)}, not a key: Data Exchange encrypts the exports with a "
            "key named by its key ARN (arn:<partition>:kms:<region>:<account>:key/<id>). Pass the key, "
            "kms.Key.from_key_arn(...) for one of another stack or account"
        )


def check_alert_topic(topic: sns.ITopic) -> None:
    """Raises PropertyError for a topic encrypted with the AWS managed SNS key: its key policy, which no one can
    change, does not let EventBridge use it, so every alert would be lost. (An imported topic's key is unknown.)"""
    key = topic.master_key
    if key is not None and key.key_arn.endswith(f":{AWS_MANAGED_SNS_KEY}"):
        raise PropertyError(
            f"alert_topic {topic.node.path} is encrypted with the AWS managed key {AWS_MANAGED_SNS_KEY}, whose key "
            "policy does not let EventBridge use it: every alert would be lost. Encrypt the topic with a customer "
            "managed key (kms.Key), which the construct lets EventBridge use"
        )


def warn_of_frequent_reconciles(construct: IConstruct, schedule: events.Schedule) -> None:
    """A warning when a product's reconcile runs more often than hourly: each run is an invocation of the handler
    and a listing of the account's data sets and event actions."""
    expression = schedule.expression_string
    runs = None if Token.is_unresolved(expression) else runs_per_month(expression)
    if runs is not None and runs > HOURLY_RUNS_PER_MONTH:
        Annotations.of(construct).add_warning_v2(
            RECONCILE_SCHEDULE_WARNING_ID,
            f"reconcile_schedule {expression} runs the product's reconcile about {runs:,} times a 30-day month, more "
            f"often than hourly ({HOURLY_RUNS_PER_MONTH:,}; the default, daily, is 30): each run invokes the handler "
            "and lists the account's data sets and event actions. Data Exchange's events already start a reconcile "
            "when the product gains a data set; the schedule only makes up for a lost event",
        )


def runs_per_month(expression: str) -> int | None:
    """How often an EventBridge schedule expression (`rate(...)` or `cron(...)`) runs in a 30-day month, or None
    for one this does not read (`at(...)`, a cron field it does not know)."""
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if rate is not None:
        interval = int(rate.group(1)) * {"minute": 1, "hour": 60, "day": 24 * 60}[rate.group(2)]
        return math.ceil(30 * 24 * 60 / interval)
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    if cron is None:
        return None
    minute, hour, day_of_month, month, day_of_week, _year = cron.groups()
    # Per hour, per day, per month, and the share of the year's months.
    factors = (
        _count(minute, 0, 59),
        _count(hour, 0, 23),
        _days(day_of_month, day_of_week),
        _count(month, 1, 12, _MONTHS),
    )
    runs = 1.0
    for factor in factors:
        if factor is None:
            return None
        runs *= factor
    return math.ceil(runs / 12)


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _days(day_of_month: str, day_of_week: str) -> float | None:
    """Days a 30-day month the cron runs on: one of the two fields is `?`."""
    if day_of_month == "?" and day_of_week in ("*", "?"):
        return 30
    if day_of_week == "?":
        if re.fullmatch(r"L|\d+W|LW", day_of_month):
            return 1
        count = _count(day_of_month, 1, 31)
        return None if count is None else min(count, 30)
    if "#" in day_of_week or day_of_week.endswith("L"):
        return 1
    count = _count(day_of_week, 1, 7, names=_WEEKDAYS)
    return None if count is None else count * 30 / 7


def _count(field: str, low: int, high: int, names: Sequence[str] = ()) -> int | None:
    """How many values a cron field takes: `*`, `N`, `N-M`, `*/S`, `N/S`, `N-M/S`, comma-separated."""
    values: set[int] = set()
    for part in field.split(","):
        found = re.fullmatch(r"(\*|\w+)(?:-(\w+))?(?:/(\d+))?", part)
        if found is None:
            return None
        first, last, step = found.groups()
        start = low if first == "*" else _value(first, names, low)
        end = high if first == "*" or (step and last is None) else _value(last or first, names, low)
        if start is None or end is None:
            return None
        values.update(range(start, end + 1, int(step or 1)))
    return len(values)


def _value(text: str, names: Sequence[str], low: int) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    return names.index(upper) + low if upper in names else None


# --- across the app -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Export:
    construct: IConstruct
    stack: Stack
    data_set_id: str | None  # None: a product's
    destination: tuple[str, str, str | None]  # bucket, key pattern, KMS key ARN (tokens compare as themselves)
    bucket: s3.IBucket


class AppChecks(Construct):
    """The event actions every construct of an app asks for, and the stacks they are in, checked together when the
    app synthesizes: one per app, a construct of the app's root (as aws-cdk-lib's own `Tree` is) with no child, so
    that its aspect visits it alone (an aspect of the root would be called back for every construct of the app)."""

    ID = "DataExchangeAutoExportChecks"

    @classmethod
    def of(cls, scope: IConstruct) -> AppChecks:
        root = scope.node.root
        found = root.node.try_find_child(cls.ID)
        if isinstance(found, cls):
            return found
        assert isinstance(root, Construct), f"{root} is no construct of this process"
        return cls(root, cls.ID)

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self._exports: list[_Export] = []
        Aspects.of(self).add(_Check(self))

    def add(
        self,
        construct: IConstruct,
        stack: Stack,
        data_set_id: str | None,
        settings: ExportSettings,
        bucket: s3.IBucket,
    ) -> None:
        """What `construct` of `stack` exports: a data set's (None for a product's)."""
        destination = (settings.bucket, settings.effective_key_pattern, settings.kms_key_arn)
        self._exports.append(_Export(construct, stack, data_set_id, destination, bucket))

    def check(self) -> None:
        # Each stack's account and Region read once.
        environments: dict[Stack, tuple[str, str, bool]] = {}
        # Quotas and event actions are per account and Region: stacks of other environments do not add up.
        alike: defaultdict[tuple[str, str, str], list[_Export]] = defaultdict(list)
        for export in self._exports:
            stack = export.stack
            if stack not in environments:
                account, region = stack.account, stack.region
                # A Region of the list is known: asking jsii would cost a round trip.
                offered = region in DATA_EXCHANGE_REGIONS or Token.is_unresolved(region)
                environments[stack] = (account, region, offered)
            account, region, offered = environments[stack]
            if not offered:
                Annotations.of(export.construct).add_error(
                    f"Data Exchange is not offered in {region}, this stack's Region: the event actions cannot be made "
                    f"there. Deploy the stack in the Region where the provider published the data set, one of "
                    f"{', '.join(DATA_EXCHANGE_REGIONS)}"
                )
            if export.data_set_id is not None:
                alike[(account, region, export.data_set_id)].append(export)
        quota = self.node.try_get_context(EVENT_ACTIONS_PER_DATA_SET_CONTEXT) or EVENT_ACTIONS_PER_DATA_SET
        for (_, _, data_set_id), exports in alike.items():
            # A data set known only at deploy is not counted (asked of jsii only where it would count).
            if len(exports) < 2 or Token.is_unresolved(data_set_id):
                continue
            _check_quota(exports, int(quota))
            _check_destinations(exports)


@jsii.implements(IAspect)
class _Check:
    """Runs the app's checks when aspects run, once every construct has been made."""

    def __init__(self, checks: AppChecks) -> None:
        self._checks = checks

    def visit(self, node: IConstruct) -> None:
        self._checks.check()


def _check_quota(exports: list[_Export], quota: int) -> None:
    over = exports[quota:]
    paths = ", ".join(export.construct.node.path for export in exports) if over else ""
    for export in over:
        Annotations.of(export.construct).add_error(
            f"{len(exports)} event actions of this app's constructs export data set {export.data_set_id} in one "
            f"account and Region ({paths}): Data Exchange allows {quota} per data set ('Auto export event actions "
            f"per data set' in Service Quotas), so the deploy would fail. Export to fewer destinations; with a raised "
            f"quota, set the context {EVENT_ACTIONS_PER_DATA_SET_CONTEXT} to it"
        )


def _check_destinations(exports: list[_Export]) -> None:
    first: dict[tuple[str, str, str | None], _Export] = {}
    for export in exports:
        earlier = first.setdefault(export.destination, export)
        if earlier is export:
            continue
        bucket, key_pattern, key = export.destination
        shown_bucket = export.bucket.node.path if Token.is_unresolved(bucket) else bucket
        encryption = "SSE-S3" if key is None else f"SSE-KMS under {shown(export.construct, key)}"
        Annotations.of(export.construct).add_error(
            f"{export.construct.node.path} and {earlier.construct.node.path} both export data set "
            f"{export.data_set_id} to bucket {shown_bucket}, key pattern {key_pattern}, {encryption}: every revision "
            "would be exported twice to the same keys (or the second event action refused at deploy without "
            "adopt_existing). Remove one, or give it another bucket or key pattern"
        )
