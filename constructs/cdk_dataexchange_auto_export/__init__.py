"""AWS CDK constructs for AWS Data Exchange auto-export of new revisions to S3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auto_export_event_action import RESOURCE_TYPE, AutoExportEventAction
from .existing_revisions import ExistingRevisions
from .provider import AutoExportEventActionProvider

if TYPE_CHECKING:
    from .auto_export_product import AutoExportProduct

__all__ = [
    "RESOURCE_TYPE",
    "AutoExportEventAction",
    "AutoExportEventActionProvider",
    "AutoExportProduct",
    "ExistingRevisions",
]


def __getattr__(name: str) -> Any:
    # Imported on first use: it needs aws_events, which an app of event actions alone never pays for.
    if name == "AutoExportProduct":
        from .auto_export_product import AutoExportProduct

        return AutoExportProduct
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
