"""What AutoExportEventAction and AutoExportProduct share: their common props (`ExportProps`, declared and
documented once), and the construct both are (`ExportConstruct`): a custom resource of their provider exporting
to a bucket, taggable with ``Tags.of``, with CDK's onXxx/metricXxx idioms over its export events.

A construct file adds only its subject (a data set, a product) and what is its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar, Required, TypedDict

import jsii
from aws_cdk import (
    CfnResource,
    CustomResource,
    Duration,
    IStableAnyProducer,
    ITaggable,
    Lazy,
    RemovalPolicy,
    Stack,
    TagManager,
    TagType,
    Token,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from dataexchange_auto_export_handler.contract import Metadata, Property
from dataexchange_auto_export_handler.export_settings import ExportSettings
from dataexchange_auto_export_handler.rules import PropertyError, names_data_set

from . import monitoring
from ._checks import AppChecks, check_alert_topic, check_encryption_key
from ._prop_types import check_prop_types, type_hints
from .existing_revisions import ExistingRevisions
from .provider import HANDLER_TIMEOUT, AutoExportEventActionProvider

# Just above the handler's timeout: if the handler dies without answering, CloudFormation gives up after this
# instead of waiting its default hour.
SERVICE_TIMEOUT = Duration.seconds(HANDLER_TIMEOUT.to_seconds() + 30)


class ExportProps(TypedDict, total=False):
    """The props both constructs take, keyword-only, besides their subject (``data_set_id``, ``product_id``)."""

    bucket: Required[s3.IBucket]
    """Destination bucket. For a bucket defined in this app, the statement that lets Data Exchange write is added
    to its policy; for an imported bucket a synth warning says which statement to add."""
    key_pattern: str | None
    """S3 key pattern of the exported assets; must contain ``${Asset.Name}`` or ``${Asset.Id}`` (and, for a
    product, ``${DataSet.Name}`` or ``${DataSet.Id}``: its data sets share the bucket).
    Default: - the Data Exchange default pattern, ``${Revision.CreatedAt}/${Asset.Name}``; for a product
    ``${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}``"""
    encryption_key: kms.IKey | None
    """KMS key for SSE-KMS of the exported objects. Default: - SSE-S3 (AES256)"""
    tags: Mapping[str, str] | None
    """Tags of the event action(s), over those of ``Tags.of`` on the same key.
    Default: - only the tags applied with ``Tags.of``"""
    removal_policy: RemovalPolicy
    """What happens to the event action(s) when the construct leaves the stack.
    Default: RemovalPolicy.DESTROY (deleted)"""
    adopt_existing: bool
    """When an event action made outside this stack (console, script, a stack that retained it) already exports
    the data set to the same bucket, key pattern and encryption, take it over instead of failing the deploy: it
    is tagged as this resource's, then updated and deleted (unless ``removal_policy`` is RETAIN) with the stack.
    Default: False (the deploy fails and names the existing event action)"""
    export_existing_revisions: ExistingRevisions
    """Revisions published before the event action existed to export too, once: ``ExistingRevisions.ALL`` or
    ``ExistingRevisions.latest(n)``, oldest first, one export job each, to the same destination, skipping any
    already exported there. A worker function does it after the deploy, which never waits for it nor fails
    because of it, and reports with a ``Backfill Completed`` or ``Backfill Failed`` event
    (``on_export_completed``/``on_export_failed`` match them). Also on an update that asks for more, and for a
    product's data sets added later. Default: ExistingRevisions.NONE"""
    alert_topic: sns.ITopic | None
    """SNS topic told about every failed export (and, for a product, every failed reconcile), with
    ``failure_notification()`` as the message. For a topic encrypted with a key of this app, EventBridge is
    allowed to use the key. Default: - no alert (see ``on_export_failed`` and ``metric_failed_exports``)"""
    provider: AutoExportEventActionProvider | None
    """The provider whose function serves the construct (and whose worker exports existing revisions), for a VPC
    or a log group of your own. Moving a deployed construct to another provider replaces its custom resource.
    Default: - the stack's shared provider, ``AutoExportEventActionProvider.of(stack)``"""


# The value of each optional prop that is left out.
DEFAULTS: Mapping[str, Any] = {
    "key_pattern": None,
    "encryption_key": None,
    "tags": None,
    "removal_policy": RemovalPolicy.DESTROY,
    "adopt_existing": False,
    "export_existing_revisions": ExistingRevisions.NONE,
    "alert_topic": None,
    "provider": None,
}
# The prop behind each export setting, as synth errors name it.
PROP_OF_SETTING: Mapping[str, str] = {
    "bucket": "bucket",
    "key_pattern": "key_pattern",
    "kms_key_arn": "encryption_key",
    "tags": "tags",
    "adopt_existing": "adopt_existing",
    "existing_revisions": "export_existing_revisions",
}


@jsii.implements(ITaggable)
class ExportConstruct(Construct):
    """A custom resource of `_resource_type` exporting its subject (the value of resource property `_subject`):
    one data set's revisions, or a product's. Failures of its own beyond the exports' have the detail types
    `_failure_types`. Subclasses give `_check_subject`, `_data_set`, `_default_key_pattern` and `_match`."""

    _resource_type: ClassVar[str]
    _subject: ClassVar[str]
    _failure_types: ClassVar[tuple[str, ...]] = ()

    def __init__(self, scope: Construct, id: str, subject: str, props: ExportProps) -> None:
        unknown = sorted(set(props) - set(ExportProps.__annotations__))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        if "bucket" not in props:
            raise TypeError(f"{type(self).__name__}() missing 1 required keyword-only argument: 'bucket'")
        super().__init__(scope, id)
        # Each prop of the type annotated here (ExportProps) and on the subclass's constructor (its subject, the
        # first keyword-only parameter), or a synth error naming it.
        subject_name = _subject_name(type(self))
        check_prop_types(
            self,
            {subject_name: type_hints(type(self).__init__)[subject_name], **type_hints(ExportProps)},
            {subject_name: subject, **props},
        )
        given: dict[str, Any] = {**DEFAULTS, **props}
        bucket: s3.IBucket = given["bucket"]
        key: kms.IKey | None = given["encryption_key"]
        existing: ExistingRevisions = given["export_existing_revisions"]
        key_pattern = given["key_pattern"] if given["key_pattern"] is not None else self._default_key_pattern()
        self.export = ExportSettings(
            bucket=bucket.bucket_name,
            key_pattern=key_pattern,
            kms_key_arn=key.key_arn if key is not None else None,
            tags=dict(given["tags"] or {}),
            adopt_existing=given["adopt_existing"],
            existing_revisions=existing.value,
        )
        """What the construct exports to, as its custom resource is told."""
        try:
            self._check_subject(subject)
            if self.export.kms_key_arn is not None:
                check_encryption_key(self, self.export.kms_key_arn)
            if given["alert_topic"] is not None:
                check_alert_topic(given["alert_topic"])
            # Tokens resolve at deploy time; the handler checks them then, with the same rules.
            self.export.check(PROP_OF_SETTING.__getitem__, Token.is_unresolved)
        except PropertyError as error:
            raise ValueError(f"{self.node.path}: {error}") from None
        stack = Stack.of(self)
        data_set_id = subject if self._subject == Property.DATA_SET_ID else None
        AppChecks.of(self).add(self, stack, data_set_id, self.export, bucket)

        provider: AutoExportEventActionProvider = given["provider"] or AutoExportEventActionProvider.of(scope)
        # The handler reads its resource's status to recognise a request CloudFormation no longer waits for.
        provider.permissions.allow_stack_reads(stack)
        bucket_policy = provider.allow_bucket(bucket, self)
        if key is not None:
            provider.allow_key(key, self)
        data_set = self._data_set(subject)
        # A pattern not known yet may name the data set too.
        names = key_pattern is not None and (names_data_set(key_pattern) or Token.is_unresolved(key_pattern))
        if names:
            provider.permissions.allow_data_set_name_lookup(data_set)
        if existing.value is not None:
            provider.backfill_worker().allow(data_set, bucket, key, names)

        properties = {self._subject: subject, **self.export.to_properties()}
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            service_timeout=SERVICE_TIMEOUT,
            resource_type=self._resource_type,
            properties=properties,
            removal_policy=given["removal_policy"],
        )
        """The custom resource (also ``node.default_child``)."""
        # Created after, and deleted before, the permissions it needs. The role's policy needs no DependsOn here:
        # the ServiceToken's Fn::GetAtt waits for the function, which depends on its role and that role's policy.
        # The bucket policy has no such path, hence the explicit dependency.
        node = self.resource.node
        if bucket_policy is not None:
            node.add_dependency(bucket_policy)
        cfn = node.default_child
        assert isinstance(cfn, CfnResource)
        # What the handler reads back when no request of CloudFormation's carries the properties; the ServiceToken
        # says which provider's drift check it is.
        deployed = {**properties, Property.SERVICE_TOKEN: provider.service_token}
        self._cfn, self._properties = cfn, deployed
        self._tag_manager: TagManager | None = None
        cfn.add_metadata(Metadata.KEY, {Metadata.PROPERTIES: deployed})
        if provider.repairs:
            # A repair deploy's: a new value makes CloudFormation send the Update that brings the event action back.
            cfn.add_property_override(Property.REPAIR, Lazy.any(_Repair(cfn, provider.repairs)))
        self._provider = provider
        self._match = self._match_of(subject)
        self._subject_value = subject
        self._event_rules: dict[monitoring.Outcome, events.Rule] = {}
        alert_topic: sns.ITopic | None = given["alert_topic"]
        if alert_topic is not None:
            self._alert(alert_topic)

    # --- what a subclass says ---------------------------------------------------------------------

    def _check_subject(self, subject: str) -> None:
        """Raises PropertyError for a subject (or a setting) the service would refuse for it; tokens are left to
        the handler."""
        raise NotImplementedError

    def _data_set(self, subject: str) -> str:
        """The data set the provider's statements name: the subject's, or `*` for any."""
        raise NotImplementedError

    def _default_key_pattern(self) -> str | None:
        return None

    def _match_of(self, subject: str) -> dict[str, Any]:
        """The part of an event pattern that selects what the construct exports."""
        raise NotImplementedError

    # --- Tags.of --------------------------------------------------------------------------------------

    @property
    def tags(self) -> TagManager:
        """The tags ``Tags.of`` applies (to the event actions, under the ``tags`` prop's on the same key).

        Made when ``Tags.of`` first asks for it: until then the resource's tags are the prop's, known at
        construction. In a stack nobody tags, that saves each construct 11 of its 23 jsii round trips (the manager,
        the lazy value and the callbacks that render it), about a third of its synth time (BENCHMARKS.md)."""
        if self._tag_manager is None:
            self._tag_manager = TagManager(TagType.MAP, self._resource_type)
            tags = Lazy.any(_MergedTags(self._tag_manager, self.export.tags))
            self._cfn.add_property_override(Property.TAGS, tags)
            self._cfn.add_metadata(Metadata.KEY, {Metadata.PROPERTIES: {**self._properties, Property.TAGS: tags}})
        return self._tag_manager

    # --- monitoring ----------------------------------------------------------------------------------

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
        """An EventBridge rule for failed exports of what this construct exports, and nothing else (another event
        action on the same data set fails under the same pattern: the events do not say which event action ran).
        ``event_pattern`` is merged in: more filtering on top.

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

    def on_drift(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
        event_pattern: events.EventPattern | None = None,
        cross_stack_scope: Construct | None = None,
    ) -> events.Rule:
        """An EventBridge rule for the ``Export Drift Detected`` events of this construct's resource and no other's:
        its event action deleted or changed outside the stack, or its data set no longer entitled (found by the
        provider's daily drift check; for a product, found and restored by its reconcile). ``event_pattern`` is
        merged in: more filtering on top.

        :param target: where the events go. Default: - none; add with ``rule.add_target``
        """
        rule = events.Rule(
            self,
            id,
            description=description,
            rule_name=rule_name,
            event_pattern=event_pattern,
            cross_stack_scope=cross_stack_scope,
        )
        cfn = self.resource.node.default_child
        assert isinstance(cfn, CfnResource)
        rule.add_event_pattern(**monitoring.drift_events(Stack.of(self).stack_id, cfn.logical_id))
        if target is not None:
            rule.add_target(target)
        return rule

    def metric_failed_exports(self, **options: Any) -> cloudwatch.Metric:
        """Failed exports: the Sum of EventBridge's ``TriggeredRules`` for a rule that matches them, over 5 minutes
        by default. ``options`` are ``aws_cloudwatch.MetricOptions``.

        EventBridge documents ``TriggeredRules`` (dimension ``RuleName``) as the number of rules that matched an
        event; it publishes it only once the rule matched, best-effort, so an alarm on it wants
        ``treat_missing_data=TreatMissingData.NOT_BREACHING``. Its guide does not say whether a rule without
        targets publishes it: the rule behind this metric is the one ``alert_topic`` sends from, when set. For
        example ``metric_failed_exports().create_alarm(self, "Alarm", threshold=1, evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)``.
        """
        return monitoring.triggered_rules(self._events_rule("failed"), **options)

    def metric_completed_exports(self, **options: Any) -> cloudwatch.Metric:
        """Completed exports; as ``metric_failed_exports``."""
        return monitoring.triggered_rules(self._events_rule("completed"), **options)

    def failure_notification(self) -> events.RuleTargetInput:
        """A message for a person, for a target of ``on_export_failed``: what failed (data sets, revisions,
        time), where it was exporting to, and the commands that show the job's errors."""
        return monitoring.failure_notification(self.export.bucket, self._subject, self._subject_value)

    def _on_export(
        self,
        outcome: monitoring.Outcome,
        id: str,
        target: events.IRuleTarget | None,
        description: str | None,
        rule_name: str | None,
        event_pattern: events.EventPattern | None,
        cross_stack_scope: Construct | None,
    ) -> events.Rule:
        rule = events.Rule(
            self,
            id,
            description=description,
            rule_name=rule_name,
            event_pattern=event_pattern,
            cross_stack_scope=cross_stack_scope,
        )
        extra = self._failure_types if outcome == "failed" else ()
        rule.add_event_pattern(**monitoring.export_events(outcome, self._match, extra))
        if target is not None:
            rule.add_target(target)
        return rule

    def _events_rule(self, outcome: monitoring.Outcome) -> events.Rule:
        """The rule behind the metric (and the alert) of one outcome: made on first use, then shared."""
        if outcome not in self._event_rules:
            self._event_rules[outcome] = self._on_export(
                outcome, f"{outcome.capitalize()}Exports", None, None, None, None, None
            )
        return self._event_rules[outcome]

    def _alert(self, topic: sns.ITopic) -> None:
        self._events_rule("failed").add_target(targets.SnsTopic(topic, message=self.failure_notification()))
        self.on_drift("DriftDetected", target=targets.SnsTopic(topic, message=monitoring.drift_notification()))
        if topic.master_key is not None:
            # EventBridge publishes as itself: an encrypted topic's key must let it (a key of another app is
            # left to its owner; grant_* changes nothing there).
            topic.master_key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")


@cache
def _subject_name(construct: type[ExportConstruct]) -> str:
    parameters = inspect.signature(construct.__init__).parameters.values()
    return next(parameter.name for parameter in parameters if parameter.kind is inspect.Parameter.KEYWORD_ONLY)


@jsii.implements(IStableAnyProducer)
class _MergedTags:
    """The resource's tags: those applied with ``Tags.of``, under the ``tags`` prop's on the same key."""

    def __init__(self, applied: TagManager, given: Mapping[str, str]) -> None:
        self._applied, self._given = applied, given

    def produce(self) -> Any:
        return {**(self._applied.render_tags() or {}), **self._given} or None


@jsii.implements(IStableAnyProducer)
class _Repair:
    """The resource's Repair property in a repair deploy: the nonce the repair context gives its logical id (read at
    synth, once the logical id is final); None (no property) for a resource it does not name."""

    def __init__(self, resource: CfnResource, repairs: Mapping[str, str]) -> None:
        self._resource, self._repairs = resource, repairs

    def produce(self) -> Any:
        return self._repairs.get(Stack.of(self._resource).resolve(self._resource.logical_id))
