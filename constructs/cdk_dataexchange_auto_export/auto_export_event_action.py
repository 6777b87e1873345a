"""The AutoExportEventAction construct: one Data Exchange event action, as a custom resource."""

from __future__ import annotations

from typing import Any, Unpack

from aws_cdk import Token
from constructs import Construct

from dataexchange_auto_export_handler.contract import EVENT_ACTION_RESOURCE_TYPE, Attribute, Property
from dataexchange_auto_export_handler.export_settings import check_known
from dataexchange_auto_export_handler.rules import check_data_set_id

from . import monitoring
from ._export_construct import ExportConstruct, ExportProps


class AutoExportEventAction(ExportConstruct):
    """Exports every newly published revision of an entitled Data Exchange data set to an S3 bucket.

    Deploys a ``Custom::DataExchangeEventAction`` backed by one Lambda function per stack, however many of these
    constructs the stack holds (or by the ``provider`` given). Tags applied with ``Tags.of`` reach the event
    action too.
    """

    _resource_type = EVENT_ACTION_RESOURCE_TYPE
    _subject = Property.DATA_SET_ID

    def __init__(self, scope: Construct, id: str, *, data_set_id: str, **props: Unpack[ExportProps]) -> None:
        """
        :param data_set_id: id of the entitled data set whose new revisions are exported.
        :param props: the props both constructs share, each typed, documented and given its default in
            ``ExportProps`` (``bucket`` is required).
        """
        super().__init__(scope, id, data_set_id, props)

    def _check_subject(self, subject: str) -> None:
        check_known(check_data_set_id, subject, "data_set_id", Token.is_unresolved)

    def _data_set(self, subject: str) -> str:
        return subject

    def _match_of(self, subject: str) -> dict[str, Any]:
        return monitoring.data_set_match(subject)

    @property
    def event_action_arn(self) -> str:
        """The event action's ARN."""
        return self.resource.get_att_string(Attribute.ARN)

    @property
    def event_action_id(self) -> str:
        """The event action's id (also its physical resource id)."""
        return self.resource.get_att_string(Attribute.ID)
