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

from ._monitored import MonitoredExports
from .existing_revisions import ExistingRevisions
from .provider import HANDLER_TIMEOUT, AutoExportEventActionProvider

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns


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
class AutoExportEventAction(MonitoredExports):
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
        self._monitor(bucket_name, alert_topic, data_set_id=data_set_id)

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
