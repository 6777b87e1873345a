"""The AutoExportEventAction construct: one Data Exchange event action, as a custom resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
    EventActionProperties,
    PropertyError,
    check_bucket_name,
    check_data_set_id,
    check_key_pattern,
    check_kms_key_arn,
    check_tags,
)

from .existing_revisions import ExistingRevisions
from .provider import HANDLER_TIMEOUT, AutoExportEventActionProvider

if TYPE_CHECKING:
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_events as events
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns

    from .monitoring import Outcome

RESOURCE_TYPE = "Custom::DataExchangeEventAction"
# Just above the handler's timeout: if the handler dies without answering, CloudFormation gives up
# after this instead of waiting its default hour.
SERVICE_TIMEOUT = Duration.seconds(HANDLER_TIMEOUT.to_seconds() + 30)


@jsii.implements(IStableAnyProducer)
class _MergedTags:
    """The event action's tags: those applied with ``Tags.of``, under the ``tags`` prop's on the same key."""

    def __init__(self, applied: TagManager, given: Mapping[str, str]) -> None:
        self._applied, self._given = applied, given

    def produce(self) -> Any:
        return {**(self._applied.render_tags() or {}), **self._given} or None


@jsii.implements(ITaggable)
class AutoExportEventAction(Construct):
    """Exports every newly published revision of an entitled Data Exchange data set to an S3 bucket.

    Deploys a ``Custom::DataExchangeEventAction`` backed by one Lambda function per stack, however
    many of these constructs the stack holds (or by the ``provider`` given). Tags applied with
    ``Tags.of`` reach the event action too.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        data_set_id: str,
        bucket: s3.IBucket,
        key_pattern: str | None = None,
        encryption_key: kms.IKey | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        adopt_existing: bool = False,
        alert_topic: sns.ITopic | None = None,
        export_existing_revisions: ExistingRevisions = ExistingRevisions.NONE,
        provider: AutoExportEventActionProvider | None = None,
    ) -> None:
        """
        :param data_set_id: id of the entitled data set whose new revisions are exported.
        :param bucket: destination bucket. For a bucket defined in this app, the statement that lets
            Data Exchange write is added to its policy; for an imported bucket a synth warning says
            which statement to add.
        :param key_pattern: S3 key pattern of the exported assets; must contain ``${Asset.Name}`` or
            ``${Asset.Id}``. Default: - the Data Exchange default pattern, ``${Revision.CreatedAt}/${Asset.Name}``
        :param encryption_key: KMS key for SSE-KMS of the exported objects. Default: - SSE-S3 (AES256)
        :param tags: tags applied to the event action, over those of ``Tags.of`` on the same key.
            Default: - only the tags applied with ``Tags.of``
        :param removal_policy: what happens to the event action when it leaves the stack.
            Default: RemovalPolicy.DESTROY (the event action is deleted)
        :param adopt_existing: when the data set already has an event action made outside this stack
            (console, script, a stack that retained it) that exports to the same bucket, key pattern and
            encryption, take it over instead of failing the deploy: it is tagged as this resource's,
            then updated and deleted (unless ``removal_policy`` is RETAIN) with the stack.
            Default: False (the deploy fails and names the existing event action)
        :param alert_topic: SNS topic told about every failed export of the data set, with
            ``failure_notification()`` as the message (``on_export_failed`` with that target). For a topic
            encrypted with a key of this app, EventBridge is allowed to use the key.
            Default: - no alert (see ``on_export_failed`` and ``metric_failed_exports``)
        :param export_existing_revisions: revisions published before the event action existed to export too,
            once: ``ExistingRevisions.ALL`` or ``ExistingRevisions.latest(n)``, oldest first, one export job
            each, to the same bucket, key pattern and encryption, skipping any already exported there. A worker
            function does it after the deploy, which never waits for it nor fails because of it; it reports with
            a ``Backfill Completed`` or ``Backfill Failed`` event (``on_export_completed``/``on_export_failed``
            match them). Also on an update that asks for more. Default: ExistingRevisions.NONE
        :param provider: the provider whose function serves this event action (and whose worker exports
            existing revisions), for a VPC or a log group of your own. Moving a deployed construct to another
            provider replaces its custom resource (see the README). Default: - the stack's shared provider,
            ``AutoExportEventActionProvider.of(stack)``
        """
        super().__init__(scope, id)
        tags = dict(tags or {})
        provider = provider or AutoExportEventActionProvider.of(scope)
        bucket_name, bucket_policy = provider.bucket(bucket, id)
        kms_key_arn = encryption_key.key_arn if encryption_key is not None else None
        self._validate(data_set_id, bucket_name, key_pattern, kms_key_arn, tags)
        if encryption_key is not None:
            provider.allow_key(encryption_key, id)
        # The service reads the data set's name as the caller for such a pattern (or one not known yet).
        names_data_set = key_pattern is not None and (
            "${DataSet.Name}" in key_pattern or Token.is_unresolved(key_pattern)
        )
        if names_data_set:
            provider.allow_data_set_name_lookup(data_set_id)

        properties = EventActionProperties(
            data_set_id=data_set_id,
            bucket=bucket_name,
            key_pattern=key_pattern,
            kms_key_arn=kms_key_arn,
            tags=tags,
            adopt_existing=adopt_existing,
            existing_revisions=export_existing_revisions.value,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            service_timeout=SERVICE_TIMEOUT,
            resource_type=RESOURCE_TYPE,
            properties=properties.to_resource_properties(),
            removal_policy=removal_policy,
        )
        """The custom resource (also ``node.default_child``)."""
        self._tags = tags
        self._tag_manager: TagManager | None = None
        # Created after, and deleted before, the permissions it needs. The role's policy needs no DependsOn
        # here: the ServiceToken's Fn::GetAtt waits for the function, which depends on its role and that
        # role's policy. The bucket policy has no such path, hence the explicit dependency.
        if bucket_policy is not None:
            self.resource.node.add_dependency(bucket_policy)
        if export_existing_revisions.value is not None:
            provider.backfill_worker().allow(data_set_id, bucket, encryption_key, names_data_set)
        self._data_set_id = data_set_id
        self._bucket_name = bucket_name
        self._event_rules: dict[str, events.Rule] = {}
        if alert_topic is not None:
            self._alert(alert_topic)

    @property
    def event_action_arn(self) -> str:
        """The event action's ARN."""
        return self.resource.get_att_string("Arn")

    @property
    def event_action_id(self) -> str:
        """The event action's id (also its physical resource id)."""
        return self.resource.get_att_string("Id")

    @property
    def tags(self) -> TagManager:
        """The tags ``Tags.of`` applies; made when the first is, so a construct nobody tags pays nothing."""
        if self._tag_manager is None:
            self._tag_manager = TagManager(TagType.MAP, RESOURCE_TYPE)
            resource = self.resource.node.default_child
            assert isinstance(resource, CfnResource)
            resource.add_property_override("Tags", Lazy.any(_MergedTags(self._tag_manager, self._tags)))
        return self._tag_manager

    # --- monitoring: CDK's onXxx/metricXxx idioms over Data Exchange's auto-export events -------------

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
        """An EventBridge rule for failed auto-exports of this construct's data set, and nothing else
        (another event action on the same data set fails under the same pattern: the events do not say
        which event action ran). ``event_pattern`` is merged in: more filtering on top.

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
        """An EventBridge rule for completed auto-exports of this construct's data set; as ``on_export_failed``."""
        return self._on_export("completed", id, target, description, rule_name, event_pattern, cross_stack_scope)

    def metric_failed_exports(self, **options: Any) -> cloudwatch.Metric:
        """Failed auto-exports of the data set: the Sum of EventBridge's ``TriggeredRules`` for a rule that
        matches them, over 5 minutes by default. ``options`` are ``aws_cloudwatch.MetricOptions``.

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
        """Completed auto-exports of the data set; as ``metric_failed_exports``."""
        from .monitoring import triggered_rules

        return triggered_rules(self._events_rule("completed"), **options)

    def failure_notification(self) -> events.RuleTargetInput:
        """A message for a person, for a target of ``on_export_failed``: what failed (data set name and
        id, revisions, time), where it was exporting to, and the commands that show the job's errors."""
        from .monitoring import failure_notification

        return failure_notification(self._data_set_id, self._bucket_name)

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
        rule.add_event_pattern(**export_events(outcome, self._data_set_id))
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

    def _validate(
        self,
        data_set_id: str,
        bucket_name: str,
        key_pattern: str | None,
        kms_key_arn: str | None,
        tags: Mapping[str, str],
    ) -> None:
        # Tokens resolve at deploy time; the handler checks them then, with the same rules.
        checks = [(check_data_set_id, data_set_id, "data_set_id"), (check_bucket_name, bucket_name, "bucket")]
        if key_pattern is not None:
            checks.append((check_key_pattern, key_pattern, "key_pattern"))
        if kms_key_arn is not None:
            checks.append((check_kms_key_arn, kms_key_arn, "encryption_key"))
        try:
            for check, value, name in checks:
                if not Token.is_unresolved(value):
                    check(value, name)
            check_tags(tags, "tags", skip=Token.is_unresolved)
        except PropertyError as error:
            raise ValueError(f"{self.node.path}: {error}") from None
