"""AWS CDK construct for AWS Data Exchange auto-export of new revisions to S3."""

from .auto_export_event_action import AutoExportEventAction, AutoExportEventActionProvider

__all__ = ["AutoExportEventAction", "AutoExportEventActionProvider"]
