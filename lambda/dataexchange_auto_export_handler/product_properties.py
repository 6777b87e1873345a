"""The properties of a product's custom resource (Custom::DataExchangeProductAutoExport) and its own rules.

A product's event actions are each an event action's properties on one of its data sets: what is checked
for one data set is checked here the same way (`properties`), plus what only a product has. Importable
without boto3, like `properties`: the construct runs the same checks at synth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .properties import EventActionProperties, ExportSettings, PropertyError, check_key_pattern, parse_export

RESOURCE_TYPE = "Custom::DataExchangeProductAutoExport"
# The key of the request the construct's rules send the handler to reconcile after the deploy.
RECONCILE_REQUEST = "ProductReconcile"
# What a reconcile after the deploy reports on the default bus (source BACKFILL_SOURCE, the package's).
PRODUCT_DATA_SETS_ADDED = "Product Data Sets Added"
PRODUCT_RECONCILED = "Product Reconciled"
PRODUCT_RECONCILE_FAILED = "Product Reconcile Failed"
# Data Exchange products are AWS Marketplace Catalog entities of type DataProduct, whose ids start "prod-"
# (the user guide's events: "prod-uEXAMPLEabc1d"); the Catalog API's EntityId takes letters, digits, '.',
# '/' and '-', 1 to 255 characters. The Data Exchange API model gives OriginDetails.ProductId no pattern.
_PRODUCT_ID = re.compile(r"^prod-[a-zA-Z0-9][.a-zA-Z0-9/-]{0,248}[a-zA-Z0-9]$")
# Every data set's objects under a prefix of its own: with one pattern for all of a product's data sets,
# keys without the data set would overwrite each other's objects.
DATA_SET_REFERENCES = ("${DataSet.Name}", "${DataSet.Id}")
DEFAULT_PRODUCT_KEY_PATTERN = "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}"
# The asset type auto-export exports: files, as Amazon S3 objects. The others (Redshift datashares, API
# Gateway APIs, S3 data access, Lake Formation permissions) have no revisions of files to export.
EXPORTABLE_ASSET_TYPES = frozenset({"S3_SNAPSHOT"})


def check_product_id(value: str, name: str) -> None:
    if not isinstance(value, str) or not _PRODUCT_ID.match(value):
        raise PropertyError(f"{name} {value!r} is not a Data Exchange product id: expected prod- and its id")


def check_product_key_pattern(value: str, name: str) -> None:
    check_key_pattern(value, name)
    if not any(reference in value for reference in DATA_SET_REFERENCES):
        raise PropertyError(
            f"{name} {value!r} must contain ${{DataSet.Name}} or ${{DataSet.Id}}: the product's data sets export "
            "to one bucket, and without them their objects would overwrite each other's"
        )


@dataclass(frozen=True)
class ProductProperties:
    """What the construct writes into the template and the handler reads back; `key_pattern` is always set."""

    product_id: str
    bucket: str
    key_pattern: str = DEFAULT_PRODUCT_KEY_PATTERN
    kms_key_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    adopt_existing: bool = False
    existing_revisions: str | None = None

    @classmethod
    def from_resource_properties(cls, properties: Mapping[str, Any]) -> ProductProperties:
        """Checks what CloudFormation (or a reconcile's rule) sent, every value a string."""
        product_id, export = parse_export(properties, "ProductId", check_product_id)
        key_pattern = export.key_pattern or DEFAULT_PRODUCT_KEY_PATTERN
        check_product_key_pattern(key_pattern, "KeyPattern")
        return cls(product_id, **asdict(replace(export, key_pattern=key_pattern)))

    def to_resource_properties(self) -> dict[str, Any]:
        """The inverse of `from_resource_properties`; what is not set is left out (the key pattern always is)."""
        return {"ProductId": self.product_id, **ExportSettings.of(self).to_resource_properties()}

    def for_data_set(self, data_set_id: str) -> EventActionProperties:
        """The event action one of the product's data sets gets."""
        return EventActionProperties(data_set_id, **asdict(ExportSettings.of(self)))
