"""The AutoExportProduct construct: every data set of a subscribed product exported, the ones the provider adds
later included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from dataexchange_auto_export_handler.product_properties import (
    DEFAULT_PRODUCT_KEY_PATTERN,
    PRODUCT_RECONCILE_FAILED,
    RECONCILE_REQUEST,
    RESOURCE_TYPE,
    ProductProperties,
    check_product_id,
    check_product_key_pattern,
)

from ._export_construct import Check, ExportConstruct, names_data_set
from .existing_revisions import ExistingRevisions
from .provider import AutoExportEventActionProvider

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns

# What Data Exchange sends a subscriber when the provider adds data sets to a product ("resources" is the
# product id), per the user guide's "EventBridge events for AWS Data Exchange". Delivery is best effort,
# hence the schedule as well.
DATA_SETS_PUBLISHED = "Data Sets Published To Product"


class AutoExportProduct(ExportConstruct):
    """Exports every newly published revision of every exportable data set of a subscribed product to an S3
    bucket: one event action per data set, owned by this construct, reconciled on every deploy, when Data
    Exchange reports data sets published to the product, and on a schedule.

    Deploys a ``Custom::DataExchangeProductAutoExport`` served by the provider's function (the stack's shared
    one unless ``provider`` is given). Tags applied with ``Tags.of`` reach every event action too.
    """

    _resource_type = RESOURCE_TYPE
    _failure_types = (PRODUCT_RECONCILE_FAILED,)

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        product_id: str,
        bucket: s3.IBucket,
        key_pattern: str | None = None,
        encryption_key: kms.IKey | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        adopt_existing: bool = False,
        export_existing_revisions: ExistingRevisions = ExistingRevisions.NONE,
        alert_topic: sns.ITopic | None = None,
        provider: AutoExportEventActionProvider | None = None,
        reconcile_schedule: events.Schedule | None = None,
    ) -> None:
        """
        :param product_id: id of the subscribed product (``prod-...``) whose data sets are exported.
        :param bucket: destination bucket of every data set, as for ``AutoExportEventAction``.
        :param key_pattern: S3 key pattern of the exported assets; must contain ``${DataSet.Name}`` or
            ``${DataSet.Id}`` (the data sets share the bucket) and ``${Asset.Name}`` or ``${Asset.Id}``.
            Default: ``${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}``
        :param encryption_key: KMS key for SSE-KMS of the exported objects. Default: - SSE-S3 (AES256)
        :param tags: tags of every event action, over those of ``Tags.of`` on the same key.
            Default: - only the tags applied with ``Tags.of``
        :param removal_policy: what happens to the event actions when the construct leaves the stack.
            Default: RemovalPolicy.DESTROY (every event action it owns is deleted)
        :param adopt_existing: take over an event action made outside the stack that exports a data set of
            the product to the same destination, as ``AutoExportEventAction`` does. Default: False (the
            reconcile fails and names it)
        :param export_existing_revisions: revisions published before a data set's event action existed to
            export too, for every data set, those added later included. Default: ExistingRevisions.NONE
        :param alert_topic: SNS topic told about every failed export of the product's data sets and every
            failed reconcile, with ``failure_notification()`` as the message. Default: - no alert
        :param provider: the provider whose function serves the construct. Default: - the stack's shared
            provider, ``AutoExportEventActionProvider.of(stack)``
        :param reconcile_schedule: when to reconcile besides Data Exchange's events, which are delivered on
            a best-effort basis. Default: - once a day
        """
        super().__init__(scope, id)
        tags = dict(tags or {})
        provider = provider or AutoExportEventActionProvider.of(scope)
        pattern = key_pattern if key_pattern is not None else DEFAULT_PRODUCT_KEY_PATTERN
        checks: list[Check] = [
            (check_product_id, product_id, "product_id"),
            (check_product_key_pattern, pattern, "key_pattern"),
        ]
        bucket_name, bucket_policy, kms_key_arn = self._destination(provider, bucket, encryption_key, tags, checks)
        provider.allow_product_reconciles()
        # The product's data sets are known only when the handler lists them: any data set of the product.
        names = names_data_set(pattern)
        if names:
            provider.allow_data_set_name_lookup("*")
        properties = ProductProperties(
            product_id=product_id,
            bucket=bucket_name,
            key_pattern=pattern,
            kms_key_arn=kms_key_arn,
            tags=tags,
            adopt_existing=adopt_existing,
            existing_revisions=export_existing_revisions.value,
        ).to_resource_properties()
        self.resource = self._custom_resource(provider, properties, tags, removal_policy, bucket_policy)
        """The custom resource (also ``node.default_child``)."""
        if export_existing_revisions.value is not None:
            provider.backfill_worker().allow("*", bucket, encryption_key, names)
        self._follow(provider, product_id, properties, reconcile_schedule or events.Schedule.rate(Duration.days(1)))
        self._monitor(bucket_name, alert_topic, product_id=product_id)

    @property
    def product_id(self) -> str:
        """The product's id, as the handler checked it."""
        return self.resource.get_att_string("ProductId")

    @property
    def data_set_ids(self) -> str:
        """The data sets exported at the last deploy, comma-separated."""
        return self.resource.get_att_string("DataSetIds")

    @property
    def event_action_count(self) -> str:
        """How many event actions export the product's data sets, after the last deploy."""
        return self.resource.get_att_string("EventActionCount")

    def _follow(
        self,
        provider: AutoExportEventActionProvider,
        product_id: str,
        properties: Mapping[str, object],
        schedule: events.Schedule,
    ) -> None:
        """Rules that run the deploy's reconcile again after it: when Data Exchange says the provider published
        data sets to the product, and on the schedule. The handler gets the resource's properties and whom the
        event actions belong to, as a request of CloudFormation's would carry them."""
        cfn = self.resource.node.default_child
        assert cfn is not None
        request = events.RuleTargetInput.from_object(
            {
                RECONCILE_REQUEST: {
                    "StackId": Aws.STACK_ID,
                    "LogicalResourceId": Stack.of(self).get_logical_id(cfn),  # type: ignore[arg-type]
                    "ResourceProperties": properties,
                }
            }
        )
        handler = targets.LambdaFunction(provider.function, event=request)
        published = events.EventPattern(
            source=["aws.dataexchange"], detail_type=[DATA_SETS_PUBLISHED], resources=[product_id]
        )
        for rule_id, when, trigger in (
            (
                "DataSetsPublished",
                f"when Data Exchange publishes data sets to {product_id}",
                {"event_pattern": published},
            ),
            ("Schedule", "on a schedule (Data Exchange's events are best effort)", {"schedule": schedule}),
        ):
            rule = events.Rule(
                self, rule_id, description=f"Reconciles {self.node.path} {when}", targets=[handler], **trigger
            )
            # Made after the custom resource and deleted before it: no reconcile outlives its Delete.
            rule.node.add_dependency(self.resource)
