"""What AutoExportEventAction and AutoExportProduct share: a custom resource served by a provider that exports
to a bucket, taggable with ``Tags.of``, with CDK's onXxx/metricXxx idioms over its export events.

aws_events and aws_cloudwatch are imported when a monitoring method is called, never at synth otherwise: a
construct whose monitoring nobody uses pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import jsii
from aws_cdk import (
    CfnResource,
    CustomResource,
    Duration,
    IStableAnyProducer,
    ITaggable,
    Lazy,
    RemovalPolicy,
    TagManager,
    TagType,
    Token,
)
from constructs import Construct

from dataexchange_auto_export_handler.properties import (
    PropertyError,
    check_kms_key_arn,
    check_tags,
)

from .provider import HANDLER_TIMEOUT, AutoExportEventActionProvider

if TYPE_CHECKING:
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_events as events
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns

    from .monitoring import Outcome

# Just above the handler's timeout: if the handler dies without answering, CloudFormation gives up
# after this instead of waiting its default hour.
SERVICE_TIMEOUT = Duration.seconds(HANDLER_TIMEOUT.to_seconds() + 30)
# A check of one prop: (check, value, the prop's name).
Check = tuple[Callable[[str, str], None], str, str]


def names_data_set(key_pattern: str | None) -> bool:
    """Whether the service reads the data set's name as the caller for this pattern (or one not known yet)."""
    return key_pattern is not None and ("${DataSet.Name}" in key_pattern or Token.is_unresolved(key_pattern))


@jsii.implements(IStableAnyProducer)
class _MergedTags:
    """The resource's tags: those applied with ``Tags.of``, under the ``tags`` prop's on the same key."""

    def __init__(self, applied: TagManager, given: Mapping[str, str]) -> None:
        self._applied, self._given = applied, given

    def produce(self) -> Any:
        return {**(self._applied.render_tags() or {}), **self._given} or None


def data_set_match(data_set_id: str) -> dict[str, Any]:
    """Events about one data set: auto-export and backfill events list it in detail.DataSetIds."""
    return {"detail": {"DataSetIds": [data_set_id]}}


def product_match(product_id: str) -> dict[str, Any]:
    """Events about a product's data sets: auto-export events (and the backfill and reconcile events of a
    product's construct) name the product in `resources`."""
    return {"resources": [product_id]}


@jsii.implements(ITaggable)
class ExportConstruct(Construct):
    """A custom resource of `_resource_type`, exporting one data set's revisions or a product's; failures
    of its own beyond the exports' have the detail types `_failure_types`."""

    _resource_type: ClassVar[str]
    _failure_types: ClassVar[tuple[str, ...]] = ()

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        # Kept here: `node.id` is two jsii round trips, paid by every construct of a stack.
        self._id = id

    def _destination(
        self,
        provider: AutoExportEventActionProvider,
        bucket: s3.IBucket,
        encryption_key: kms.IKey | None,
        tags: Mapping[str, str],
        checks: Sequence[Check],
    ) -> tuple[str, CfnResource | None, str | None]:
        """The bucket's name, what the resource must wait for (the bucket's policy) and the key's ARN, once
        the props are checked (`checks` and the destination's) and the provider allows the key."""
        kms_key_arn = encryption_key.key_arn if encryption_key is not None else None
        all_checks = [*checks]
        if kms_key_arn is not None:
            all_checks.append((check_kms_key_arn, kms_key_arn, "encryption_key"))
        try:
            bucket_name, bucket_policy = provider.bucket(bucket, self._id)
            # Tokens resolve at deploy time; the handler checks them then, with the same rules.
            for check, value, name in all_checks:
                if not Token.is_unresolved(value):
                    check(value, name)
            check_tags(tags, "tags", skip=Token.is_unresolved)
        except PropertyError as error:
            raise ValueError(f"{self.node.path}: {error}") from None
        if encryption_key is not None:
            provider.allow_key(encryption_key, self._id)
        return bucket_name, bucket_policy, kms_key_arn

    def _custom_resource(
        self,
        provider: AutoExportEventActionProvider,
        properties: Mapping[str, Any],
        tags: Mapping[str, str],
        removal_policy: RemovalPolicy,
        bucket_policy: CfnResource | None,
    ) -> CustomResource:
        resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            service_timeout=SERVICE_TIMEOUT,
            resource_type=self._resource_type,
            properties=dict(properties),
            removal_policy=removal_policy,
        )
        self._tags = tags
        self._tag_manager: TagManager | None = None
        # Created after, and deleted before, the permissions it needs. The role's policy needs no DependsOn
        # here: the ServiceToken's Fn::GetAtt waits for the function, which depends on its role and that
        # role's policy. The bucket policy has no such path, hence the explicit dependency.
        if bucket_policy is not None:
            resource.node.add_dependency(bucket_policy)
        return resource

    @property
    def tags(self) -> TagManager:
        """The tags ``Tags.of`` applies; made when the first is, so a construct nobody tags pays nothing."""
        if self._tag_manager is None:
            self._tag_manager = TagManager(TagType.MAP, self._resource_type)
            resource = self.node.find_child("Resource").node.default_child
            assert isinstance(resource, CfnResource)
            resource.add_property_override("Tags", Lazy.any(_MergedTags(self._tag_manager, self._tags)))
        return self._tag_manager

    def _monitor(
        self,
        bucket_name: str,
        alert_topic: sns.ITopic | None,
        *,
        data_set_id: str | None = None,
        product_id: str | None = None,
    ) -> None:
        self._bucket_name, self._data_set_id, self._product_id = bucket_name, data_set_id, product_id
        self._match = product_match(product_id) if product_id is not None else data_set_match(str(data_set_id))
        self._event_rules: dict[str, events.Rule] = {}
        if alert_topic is not None:
            self._alert(alert_topic)

    def on_export_failed(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
        event_pattern: events.EventPattern | None = None,
        cross_stack_scope: Construct | None = None,
    ) -> events.Rule:
        """An EventBridge rule for failed exports of what this construct exports, and nothing else (another
        event action on the same data set fails under the same pattern: the events do not say which event
        action ran). ``event_pattern`` is merged in: more filtering on top.

        :param target: where the events go. Default: - none; add with ``rule.add_target``
        """
        return self._on_export("failed", id, target, description, rule_name, event_pattern, cross_stack_scope)

    def on_export_completed(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
        event_pattern: events.EventPattern | None = None,
        cross_stack_scope: Construct | None = None,
    ) -> events.Rule:
        """An EventBridge rule for completed exports; as ``on_export_failed``."""
        return self._on_export("completed", id, target, description, rule_name, event_pattern, cross_stack_scope)

    def metric_failed_exports(self, **options: Any) -> cloudwatch.Metric:
        """Failed exports: the Sum of EventBridge's ``TriggeredRules`` for a rule that matches them, over 5
        minutes by default. ``options`` are ``aws_cloudwatch.MetricOptions``.

        EventBridge documents ``TriggeredRules`` (dimension ``RuleName``) as the number of rules that
        matched an event; it publishes it only once the rule matched, best-effort, so an alarm on it wants
        ``treat_missing_data=TreatMissingData.NOT_BREACHING``. Its guide does not say whether a rule
        without targets publishes it: the rule behind this metric is the one ``alert_topic`` sends from,
        when set. For example ``metric_failed_exports().create_alarm(self, "Alarm", threshold=1,
        evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)``.
        """
        from .monitoring import triggered_rules

        return triggered_rules(self._events_rule("failed"), **options)

    def metric_completed_exports(self, **options: Any) -> cloudwatch.Metric:
        """Completed exports; as ``metric_failed_exports``."""
        from .monitoring import triggered_rules

        return triggered_rules(self._events_rule("completed"), **options)

    def failure_notification(self) -> events.RuleTargetInput:
        """A message for a person, for a target of ``on_export_failed``: what failed (data sets, revisions,
        time), where it was exporting to, and the commands that show the job's errors."""
        from .monitoring import failure_notification

        return failure_notification(self._bucket_name, data_set_id=self._data_set_id, product_id=self._product_id)

    def _on_export(
        self,
        outcome: Outcome,
        id: str,
        target: events.IRuleTarget | None,
        description: str | None,
        rule_name: str | None,
        event_pattern: events.EventPattern | None,
        cross_stack_scope: Construct | None,
    ) -> events.Rule:
        from aws_cdk import aws_events as events

        from .monitoring import export_events

        rule = events.Rule(
            self,
            id,
            description=description,
            rule_name=rule_name,
            event_pattern=event_pattern,
            cross_stack_scope=cross_stack_scope,
        )
        extra = self._failure_types if outcome == "failed" else ()
        rule.add_event_pattern(**export_events(outcome, self._match, extra))
        if target is not None:
            rule.add_target(target)
        return rule

    def _events_rule(self, outcome: Outcome) -> events.Rule:
        """The rule behind the metric (and the alert) of one outcome: made on first use, then shared."""
        if outcome not in self._event_rules:
            self._event_rules[outcome] = self._on_export(
                outcome, f"{outcome.capitalize()}Exports", None, None, None, None, None
            )
        return self._event_rules[outcome]

    def _alert(self, topic: sns.ITopic) -> None:
        from aws_cdk import aws_events_targets as targets
        from aws_cdk import aws_iam as iam

        self._events_rule("failed").add_target(targets.SnsTopic(topic, message=self.failure_notification()))
        if topic.master_key is not None:
            # EventBridge publishes as itself: an encrypted topic's key must let it (a key of another app is
            # left to its owner; grant_* changes nothing there).
            topic.master_key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
