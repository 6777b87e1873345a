"""The two resources' properties: a data set's (its id plus the export settings) and a product's (its id plus
the same settings), read from what CloudFormation sends and written back as the template holds them.

Importable without boto3, like `export_settings`: the construct writes its resource's properties with these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from .contract import Property
from .export_settings import ExportSettings, optional_string
from .rules import (
    DEFAULT_PRODUCT_KEY_PATTERN,
    PropertyError,
    check_data_set_id,
    check_product_id,
    check_product_key_pattern,
)

if TYPE_CHECKING:
    from mypy_boto3_dataexchange.type_defs import EventTypeDef

# CloudFormation passes its own along with a resource's; a repair deploy's Repair only makes CloudFormation send the
# Update, which reads nothing of it.
_CLOUDFORMATION_PROPERTIES = frozenset({Property.SERVICE_TOKEN, Property.SERVICE_TIMEOUT, Property.REPAIR})


def _read(
    properties: Mapping[str, Any], subject: str, check_subject: Callable[[str, str], None]
) -> tuple[str, ExportSettings]:
    """What a resource exports (its property `subject`) and where to, checked as the service would check them
    before any API call."""
    known = _CLOUDFORMATION_PROPERTIES | set(ExportSettings.PROPERTIES.values()) | {subject}
    unknown = sorted(set(properties) - known)
    if unknown:
        raise PropertyError(f"Unknown property {unknown[0]!r}: expected {', '.join(sorted(known))}")
    value = optional_string(properties, subject)
    if value is None or optional_string(properties, Property.BUCKET) is None:
        raise PropertyError(f"{subject} and {Property.BUCKET} are required")
    check_subject(value, subject)
    return value, ExportSettings.from_properties(properties)


@dataclass(frozen=True)
class EventActionProperties:
    """A `Custom::DataExchangeEventAction`: the data set whose new revisions are exported, and where to."""

    data_set_id: str
    export: ExportSettings

    # The property that names what is exported.
    SUBJECT: ClassVar[str] = Property.DATA_SET_ID

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> EventActionProperties:
        return cls(*_read(properties, cls.SUBJECT, check_data_set_id))

    def to_properties(self) -> dict[str, Any]:
        return {self.SUBJECT: self.data_set_id, **self.export.to_properties()}

    def event(self) -> EventTypeDef:
        return {"RevisionPublished": {"DataSetId": self.data_set_id}}

    def widens_backfill_of(self, old: EventActionProperties | None) -> bool:
        """Whether these properties ask for existing revisions that `old` (None: a new event action) did not;
        another data set is a new event action."""
        same_data_set = old is not None and old.data_set_id == self.data_set_id
        return self.export.widens_backfill_of(old.export if same_data_set and old else None)


@dataclass(frozen=True)
class ProductProperties:
    """A `Custom::DataExchangeProductAutoExport`: the product whose data sets are exported, each to the same
    destination. The key pattern is always set, and names the data set."""

    product_id: str
    export: ExportSettings

    SUBJECT: ClassVar[str] = Property.PRODUCT_ID

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> ProductProperties:
        product_id, export = _read(properties, cls.SUBJECT, check_product_id)
        key_pattern = export.key_pattern or DEFAULT_PRODUCT_KEY_PATTERN
        check_product_key_pattern(key_pattern, Property.KEY_PATTERN)
        return cls(product_id, replace(export, key_pattern=key_pattern))

    def to_properties(self) -> dict[str, Any]:
        return {self.SUBJECT: self.product_id, **self.export.to_properties()}

    def for_data_set(self, data_set_id: str) -> EventActionProperties:
        """The event action one of the product's data sets gets."""
        return EventActionProperties(data_set_id, self.export)
