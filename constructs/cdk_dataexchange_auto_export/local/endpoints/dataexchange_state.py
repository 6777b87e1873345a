"""What the local Data Exchange holds, kept in one JSON file between runs, and how it names and pages it."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..account import REGION, partition_of
from ..files import write_atomically
from .protocol import validation_error

# The service's default page size is undocumented. A small one makes every client that forgets to
# follow NextToken miss results here, as it eventually would against the service.
DEFAULT_PAGE_SIZE = 3
_ID_ALPHABET = string.ascii_letters + string.digits
Item = dict[str, Any]


def new_id() -> str:
    """An id of the full documented shape (30 to 40 letters and digits, mixed case), so that a client
    assuming the 32 lowercase hex digits the service usually issues fails here."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(30 + secrets.randbelow(11)))


_last = datetime.min.replace(tzinfo=UTC)
_clock_lock = threading.Lock()


def now() -> str:
    """The time, at least a millisecond after the last one this process gave: the wire carries milliseconds,
    and two items made by two requests are never made at the same instant by the service either."""
    global _last
    with _clock_lock:
        _last = max(datetime.now(UTC), _last + timedelta(milliseconds=1))
        return _last.isoformat(timespec="microseconds")


def arn(region: str, account: str, resource: str) -> str:
    return f"arn:{partition_of(region)}:dataexchange:{region}:{account}:{resource}"


def entitled_arn(region: str, resource: str) -> str:
    """An entitled data set belongs to its provider: its ARN (and its revisions') has no account."""
    return arn(region, "", resource)


ASSET_TYPES = (
    "S3_SNAPSHOT",
    "REDSHIFT_DATA_SHARE",
    "API_GATEWAY_API",
    "S3_DATA_ACCESS",
    "LAKE_FORMATION_DATA_PERMISSION",
)


def new_product_id() -> str:
    """A product id of the shape the user guide's examples show: prod- and 13 letters and digits."""
    return "prod-" + uuid.uuid4().hex[:13]


def entitled_data_set(data_set_id: str, name: str, product_id: str, asset_type: str = "S3_SNAPSHOT") -> Item:
    """A data set the subscriber is entitled to through a product, as DataSetEntry describes it."""
    if asset_type not in ASSET_TYPES:
        raise ValueError(f"Unknown asset type {asset_type!r}: expected one of {', '.join(ASSET_TYPES)}")
    created = now()
    return {
        "Id": data_set_id,
        "Arn": entitled_arn(REGION, f"data-sets/{data_set_id}"),
        "Name": name,
        "Origin": "ENTITLED",
        "OriginDetails": {"ProductId": product_id},
        "AssetType": asset_type,
        "Description": f"A data set of product {product_id} in the local Data Exchange",
        "CreatedAt": created,
        "UpdatedAt": created,
    }


def owned_data_set(data_set_id: str, name: str, account: str) -> Item:
    """A data set of files the account provides, as DataSetEntry describes it: its ARN names the account, and
    it has no OriginDetails (the API reference: "If the origin of this data set is ENTITLED, includes the
    details for the product")."""
    created = now()
    return {
        "Id": data_set_id,
        "Arn": arn(REGION, account, f"data-sets/{data_set_id}"),
        "Name": name,
        "Origin": "OWNED",
        "AssetType": "S3_SNAPSHOT",
        "Description": "A data set this account provides in the local Data Exchange",
        "CreatedAt": created,
        "UpdatedAt": created,
    }


def _encode_token(item: Mapping[str, Any]) -> str:
    # Position by (CreatedAt, Id) rather than by index, so deleting between pages skips nothing.
    return base64.urlsafe_b64encode(json.dumps([item["CreatedAt"], item["Id"]]).encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        created_at, item_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise validation_error(f"NextToken {token!r} is not valid") from None
    return str(created_at), str(item_id)


def page(items: list[Item], params: Mapping[str, Any], key: str, *, newest_first: bool = False) -> Item:
    """One page of `items` under `key`, ordered by (CreatedAt, Id), with a NextToken if more follow."""

    def position(item: Item) -> tuple[str, str]:
        return item["CreatedAt"], item["Id"]

    items = sorted(items, key=position, reverse=newest_first)
    if "NextToken" in params:
        after = _decode_token(params["NextToken"])
        items = [item for item in items if (position(item) < after if newest_first else position(item) > after)]
    size = params.get("MaxResults", DEFAULT_PAGE_SIZE)
    output: Item = {key: items[:size]}
    if len(items) > size:
        output["NextToken"] = _encode_token(items[size - 1])
    return output


@dataclass
class State:
    """Every item by id (revisions carry their DataSetId and Assets, jobs their Details), and the clock
    jobs run by: one tick per request."""

    event_actions: dict[str, Item] = field(default_factory=dict)
    data_sets: dict[str, Item] = field(default_factory=dict)
    revisions: dict[str, Item] = field(default_factory=dict)
    jobs: dict[str, Item] = field(default_factory=dict)
    clock: int = 0

    _KEYS = ("EventActions", "DataSets", "Revisions", "Jobs")

    @classmethod
    def load(cls, path: Path | None) -> State:
        if path is None or not path.exists() or not path.stat().st_size:
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        event_actions, data_sets, revisions, jobs = (
            {item["Id"]: item for item in raw.get(key, [])} for key in cls._KEYS
        )
        return cls(event_actions, data_sets, revisions, jobs, raw.get("Clock", 0))

    def save(self, path: Path | None) -> None:
        if path is not None:
            tables = (self.event_actions, self.data_sets, self.revisions, self.jobs)
            state: dict[str, Any] = {key: list(table.values()) for key, table in zip(self._KEYS, tables, strict=True)}
            write_atomically(path, json.dumps({**state, "Clock": self.clock}, indent=2, sort_keys=True))
