"""What the local Data Exchange holds before a stack first needs it: the data sets and products the stack names,
entitled on first use, each exportable data set with a little history (finalized revisions, oldest first) for a
backfill to find."""

from __future__ import annotations

from typing import Any

from dataexchange_auto_export_handler.contract import EVENT_ACTION_RESOURCE_TYPE, PRODUCT_RESOURCE_TYPE, Property

from .cloudformation import OfflineCloudFormation
from .endpoints import DataExchangeEndpoint

# A product's data sets, when the stack follows one: files, and one of API assets, which cannot be exported to S3.
PRODUCT_DATA_SETS = (
    ("Prices daily", "S3_SNAPSHOT"),
    ("Reference instruments", "S3_SNAPSHOT"),
    ("Corporate actions", "S3_SNAPSHOT"),
    ("Live quotes API", "API_GATEWAY_API"),
)
EXPORTABLE = "S3_SNAPSHOT"


def named_by(cloudformation: OfflineCloudFormation) -> tuple[list[str], list[str]]:
    """The data sets and products the stack's resources of ours name, their properties resolved as CloudFormation
    would (a data set id may be a parameter)."""
    data_sets: list[str] = []
    products: list[str] = []
    for resource in cloudformation.stack.resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == EVENT_ACTION_RESOURCE_TYPE:
            data_sets.append(str(cloudformation.resolve(properties[Property.DATA_SET_ID])))
        elif resource["Type"] == PRODUCT_RESOURCE_TYPE:
            products.append(str(cloudformation.resolve(properties[Property.PRODUCT_ID])))
    return list(dict.fromkeys(data_sets)), list(dict.fromkeys(products))


def seed(
    endpoint: DataExchangeEndpoint, data_sets: list[str], products: list[str], revisions: int
) -> list[dict[str, Any]]:
    """Entitles the account to each data set and product it is not entitled to yet; returns what it made (Id,
    Name, AssetType, ProductId and the Revisions' ids)."""
    known = endpoint.data_sets()
    known_ids = {data_set["Id"] for data_set in known}
    followed = {data_set.get("OriginDetails", {}).get("ProductId") for data_set in known}
    made = [endpoint.entitle(data_set_id) for data_set_id in data_sets if data_set_id not in known_ids]
    for product_id in products:
        if product_id not in followed:
            made += [endpoint.add_data_set(product_id, name, asset_type) for name, asset_type in PRODUCT_DATA_SETS]
    return [
        {
            "Id": data_set["Id"],
            "Name": data_set["Name"],
            "AssetType": data_set["AssetType"],
            "ProductId": data_set["OriginDetails"]["ProductId"],
            "Revisions": _history(endpoint, data_set["Id"], revisions) if data_set["AssetType"] == EXPORTABLE else [],
        }
        for data_set in made
    ]


def _history(endpoint: DataExchangeEndpoint, data_set_id: str, revisions: int) -> list[str]:
    return [
        endpoint.add_revision(data_set_id, [f"history/revision-{number}.csv"])["Id"]
        for number in range(1, revisions + 1)
    ]
