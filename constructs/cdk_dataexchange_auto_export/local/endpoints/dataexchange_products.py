"""The products a subscriber is entitled to, offline: which data sets each holds, ListDataSets, and what a
provider's adding data sets to a product does. The account may be a provider too, with data sets it owns.

Written from the Data Exchange API reference (ListDataSets: `Origin` ENTITLED or OWNED, both without it,
`MaxResults` 1-200, `NextToken`; DataSetEntry with `AssetType`, `Origin`, and `OriginDetails.ProductId` for
an ENTITLED one only) and the user guide's "EventBridge events for AWS Data Exchange": a subscriber's default
bus gets `Data Sets Published To Product`, whose `resources` is the product id and whose detail lists the
data sets and the product. What becomes of a data set when a subscription ends is not documented: here it
leaves the entitled list (`end_entitlement`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from ..account import REGION
from . import dataexchange_rules as rules
from .dataexchange_revisions import EventSink
from .dataexchange_state import Item, State, entitled_data_set, new_id, now, owned_data_set, page
from .protocol import Request, validation_error

DATA_SETS_PUBLISHED = "Data Sets Published To Product"


class Products:
    def __init__(self, state: State, account: str, events: EventSink) -> None:
        self._state = state
        self._account = account
        self._events = events

    # --- what a provider (and the end of a subscription) does --------------------------------------

    def add_data_set(
        self, product_id: str, name: str, asset_type: str = "S3_SNAPSHOT", data_set_id: str | None = None
    ) -> Item:
        """The provider adds a data set to the product: the subscriber is entitled to it from now on."""
        data_set_id = data_set_id or new_id()
        rules.check_identifier(data_set_id, "DataSetId")
        data_set = entitled_data_set(data_set_id, name, product_id, asset_type)
        self._state.data_sets[data_set_id] = data_set
        return data_set

    def add_owned_data_set(self, name: str) -> Item:
        """The account, as a provider, makes a data set of its own (only listed here: no revisions or jobs)."""
        data_set = owned_data_set(new_id(), name, self._account)
        self._state.data_sets[data_set["Id"]] = data_set
        return data_set

    def publish_data_sets(self, product_id: str, data_set_ids: Sequence[str]) -> Item:
        """Data Exchange tells the subscriber's default bus that the data sets were published to the product."""
        data_sets = [self._state.data_sets[data_set_id] for data_set_id in data_set_ids]
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": DATA_SETS_PUBLISHED,
            "source": "aws.dataexchange",
            "account": self._account,
            "time": now()[:19] + "Z",
            "region": REGION,
            "resources": [product_id],
            "detail": {
                "DataSetIds": list(data_set_ids),
                "DataSets": [{"Id": data_set["Id"], "Name": data_set["Name"]} for data_set in data_sets],
                "Product": {"Id": product_id, "Name": f"Product {product_id}"},
            },
        }
        self._events(event)
        return event

    def end_entitlement(self, data_set_id: str) -> None:
        """The subscription to the data set's product ends: it is no longer entitled, nor listed."""
        self._state.data_sets[data_set_id]["Origin"] = "UNSUBSCRIBED"

    def end_subscription(self, product_id: str) -> list[str]:
        """The subscription to the product ends: every data set of it the account was entitled to leaves."""
        ended = [
            data_set["Id"]
            for data_set in self._state.data_sets.values()
            if data_set["Origin"] == "ENTITLED" and data_set.get("OriginDetails", {}).get("ProductId") == product_id
        ]
        if not ended:
            raise ValueError(f"The account subscribes to no product {product_id}")
        for data_set_id in ended:
            self.end_entitlement(data_set_id)
        return ended

    # --- the API ------------------------------------------------------------------------------

    def list_data_sets(self, params: dict[str, Any], request: Request) -> Item:
        # No resource-level permissions: "*" is the only resource the action accepts.
        request.authorize("dataexchange:ListDataSets", "*")
        origin = params.get("Origin")
        if origin not in (None, "ENTITLED", "OWNED"):
            raise validation_error(f"Origin {origin!r}: expected ENTITLED or OWNED")
        # Without a filter, the API lists both.
        origins = (origin,) if origin else ("ENTITLED", "OWNED")
        listed = [item for item in self._state.data_sets.values() if item["Origin"] in origins]
        return page(listed, params, "DataSets")
