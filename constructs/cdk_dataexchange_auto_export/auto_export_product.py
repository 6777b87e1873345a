"""The AutoExportProduct construct: every data set of a subscribed product exported, the ones the provider adds
later included."""

from __future__ import annotations

from typing import Any, Unpack

from aws_cdk import Aws, CfnResource, Duration, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from dataexchange_auto_export_handler.contract import (
    DATA_EXCHANGE_SOURCE,
    DATA_SETS_PUBLISHED,
    PRODUCT_RESOURCE_TYPE,
    Attribute,
    DetailType,
    Property,
    ReconcileRequest,
)
from dataexchange_auto_export_handler.export_settings import check_known
from dataexchange_auto_export_handler.rules import (
    DEFAULT_PRODUCT_KEY_PATTERN,
    check_product_id,
    check_product_key_pattern,
)

from . import monitoring
from ._checks import warn_of_frequent_reconciles
from ._export_construct import ExportConstruct, ExportProps
from ._prop_types import check_prop_types, type_hints


class AutoExportProduct(ExportConstruct):
    """Exports every newly published revision of every exportable data set of a subscribed product to an S3
    bucket: one event action per data set, owned by this construct, reconciled on every deploy, when Data
    Exchange reports data sets published to the product, and on a schedule.

    Deploys a ``Custom::DataExchangeProductAutoExport`` served by the provider's function (the stack's shared
    one unless ``provider`` is given). Tags applied with ``Tags.of`` reach every event action too.
    """

    _resource_type = PRODUCT_RESOURCE_TYPE
    _subject = Property.PRODUCT_ID
    _failure_types = (DetailType.PRODUCT_RECONCILE_FAILED,)

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        product_id: str,
        reconcile_schedule: events.Schedule | None = None,
        **props: Unpack[ExportProps],
    ) -> None:
        """
        :param product_id: id of the subscribed product (``prod-...``) whose data sets are exported.
        :param reconcile_schedule: when to reconcile besides Data Exchange's events, which are delivered on a
            best-effort basis. Default: - once a day
        :param props: the props both constructs share, each typed, documented and given its default in
            ``ExportProps`` (``bucket`` is required).
        """
        super().__init__(scope, id, product_id, props)
        check_prop_types(self, type_hints(AutoExportProduct.__init__), {"reconcile_schedule": reconcile_schedule})
        self._provider.permissions.allow_product_reconciles(Stack.of(self))
        # A product too big for one invocation goes on in the next, from the first Create on.
        self.resource.node.add_dependency(self._provider.allow_continuations())
        schedule = reconcile_schedule or events.Schedule.rate(Duration.days(1))
        warn_of_frequent_reconciles(self, schedule)
        self._follow(product_id, schedule)

    def _check_subject(self, subject: str) -> None:
        check_known(check_product_id, subject, "product_id", Token.is_unresolved)
        check_known(check_product_key_pattern, str(self.export.key_pattern), "key_pattern", Token.is_unresolved)

    def _data_set(self, subject: str) -> str:
        # The product's data sets are known only when the handler lists them: any data set of the product.
        return "*"

    def _default_key_pattern(self) -> str:
        return DEFAULT_PRODUCT_KEY_PATTERN

    def _match_of(self, subject: str) -> dict[str, Any]:
        return monitoring.product_match(subject)

    @property
    def product_id(self) -> str:
        """The product's id, as the handler checked it."""
        return self.resource.get_att_string(Attribute.PRODUCT_ID)

    @property
    def data_set_ids(self) -> str:
        """The data sets exported when the last deploy answered, comma-separated, as many as fit CloudFormation's
        response (about 60; ``data_set_count`` says how many there are)."""
        return self.resource.get_att_string(Attribute.DATA_SET_IDS)

    @property
    def event_action_count(self) -> str:
        """How many event actions exported the product's data sets when the last deploy answered."""
        return self.resource.get_att_string(Attribute.EVENT_ACTION_COUNT)

    @property
    def data_set_count(self) -> str:
        """How many exportable data sets the product had for the account at the last deploy: more than
        ``event_action_count`` while a product too big for one invocation is still being followed."""
        return self.resource.get_att_string(Attribute.DATA_SET_COUNT)

    def _follow(self, product_id: str, schedule: events.Schedule) -> None:
        """Rules that run the deploy's reconcile again after it: when Data Exchange says the provider published
        data sets to the product, and on the schedule. They name the resource; the handler reads what the stack
        deployed of it."""
        cfn = self.resource.node.default_child
        assert isinstance(cfn, CfnResource)

        def handler(trigger: str) -> targets.LambdaFunction:
            request = {
                ReconcileRequest.KEY: {
                    ReconcileRequest.STACK_ID: Aws.STACK_ID,
                    ReconcileRequest.LOGICAL_ID: Stack.of(self).get_logical_id(cfn),
                    ReconcileRequest.TRIGGER: trigger,
                }
            }
            return targets.LambdaFunction(self._provider.function, event=events.RuleTargetInput.from_object(request))

        published = events.EventPattern(
            source=[DATA_EXCHANGE_SOURCE], detail_type=[DATA_SETS_PUBLISHED], resources=[product_id]
        )
        for rule_id, when, trigger, rule_trigger in (
            (
                "DataSetsPublished",
                f"when Data Exchange publishes data sets to {product_id}",
                {"event_pattern": published},
                ReconcileRequest.PUBLISHED,
            ),
            (
                "Schedule",
                "on a schedule (Data Exchange's events are best effort)",
                {"schedule": schedule},
                ReconcileRequest.SCHEDULE,
            ),
        ):
            rule = events.Rule(
                self,
                rule_id,
                description=f"Reconciles {self.node.path} {when}",
                targets=[handler(rule_trigger)],
                **trigger,
            )
            # Made after the custom resource and deleted before it: no reconcile outlives its Delete.
            rule.node.add_dependency(self.resource)
