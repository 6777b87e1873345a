"""CDK's onXxx/metricXxx idioms over the export events of a data set or a whole product, shared by the
constructs. aws_events and aws_cloudwatch are imported when a method is called, never at synth otherwise:
a construct whose monitoring nobody uses pays nothing for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from constructs import Construct

if TYPE_CHECKING:
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_events as events
    from aws_cdk import aws_sns as sns

    from .monitoring import Outcome


def data_set_match(data_set_id: str) -> dict[str, Any]:
    """Events about one data set: auto-export and backfill events list it in detail.DataSetIds."""
    return {"detail": {"DataSetIds": [data_set_id]}}


def product_match(product_id: str) -> dict[str, Any]:
    """Events about a product's data sets: auto-export events (and the backfill and reconcile events of a
    product's construct) name the product in `resources`."""
    return {"resources": [product_id]}


class MonitoredExports(Construct):
    """A construct whose exports Data Exchange (and the backfill worker) report as events: those of one data
    set, or of a product's data sets. `_failure_types` are the detail types of failures beyond the exports'."""

    _failure_types: tuple[str, ...] = ()

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
