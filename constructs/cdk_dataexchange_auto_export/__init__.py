"""AWS CDK construct for AWS Data Exchange auto-export of new revisions to S3."""

from .auto_export_event_action import RESOURCE_TYPE, AutoExportEventAction
from .existing_revisions import ExistingRevisions
from .provider import AutoExportEventActionProvider

__all__ = ["RESOURCE_TYPE", "AutoExportEventAction", "AutoExportEventActionProvider", "ExistingRevisions"]
