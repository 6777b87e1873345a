"""AWS CDK constructs for AWS Data Exchange auto-export of new revisions to S3."""

from __future__ import annotations

from dataexchange_auto_export_handler.contract import EVENT_ACTION_RESOURCE_TYPE, PRODUCT_RESOURCE_TYPE

from ._export_construct import ExportProps
from .auto_export_event_action import AutoExportEventAction
from .auto_export_product import AutoExportProduct
from .existing_revisions import ExistingRevisions
from .provider import AutoExportEventActionProvider

# The package's version, written only here (pyproject.toml reads it): semantic versioning, CHANGELOG.md. Within a
# major version, the logical ids of what the construct deploys and its props stay compatible.
__version__ = "2.0.0"

__all__ = [
    "EVENT_ACTION_RESOURCE_TYPE",
    "PRODUCT_RESOURCE_TYPE",
    "AutoExportEventAction",
    "AutoExportEventActionProvider",
    "AutoExportProduct",
    "ExistingRevisions",
    "ExportProps",
    "__version__",
]
