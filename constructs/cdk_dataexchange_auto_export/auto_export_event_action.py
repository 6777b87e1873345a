"""The AutoExportEventAction construct: one Data Exchange event action, as a custom resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_cdk import RemovalPolicy
from constructs import Construct

from dataexchange_auto_export_handler.properties import EventActionProperties, check_data_set_id, check_key_pattern

from ._export_construct import Check, ExportConstruct, names_data_set
from .existing_revisions import ExistingRevisions
from .provider import AutoExportEventActionProvider

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns

RESOURCE_TYPE = "Custom::DataExchangeEventAction"


class AutoExportEventAction(ExportConstruct):
    """Exports every newly published revision of an entitled Data Exchange data set to an S3 bucket.

    Deploys a ``Custom::DataExchangeEventAction`` backed by one Lambda function per stack, however
    many of these constructs the stack holds (or by the ``provider`` given). Tags applied with
    ``Tags.of`` reach the event action too.
    """

    _resource_type = RESOURCE_TYPE

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
        checks: list[Check] = [(check_data_set_id, data_set_id, "data_set_id")]
        if key_pattern is not None:
            checks.append((check_key_pattern, key_pattern, "key_pattern"))
        bucket_name, bucket_policy, kms_key_arn = self._destination(provider, bucket, encryption_key, tags, checks)
        names = names_data_set(key_pattern)
        if names:
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
        self.resource = self._custom_resource(
            provider, properties.to_resource_properties(), tags, removal_policy, bucket_policy
        )
        """The custom resource (also ``node.default_child``)."""
        if export_existing_revisions.value is not None:
            provider.backfill_worker().allow(data_set_id, bucket, encryption_key, names)
        self._monitor(bucket_name, alert_topic, data_set_id=data_set_id)

    @property
    def event_action_arn(self) -> str:
        """The event action's ARN."""
        return self.resource.get_att_string("Arn")

    @property
    def event_action_id(self) -> str:
        """The event action's id (also its physical resource id)."""
        return self.resource.get_att_string("Id")
