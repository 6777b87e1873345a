"""The handler's rules and the local endpoint's, written separately, agree on every documented limit.

Each case states what AWS's documentation says (valid or not); the handler (which runs the same check
at synth time) and the endpoint (which plays the service) must both say the same. A rule that is
wrong in either place fails here instead of being copied into the other.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config

from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, local_client
from dataexchange_auto_export_handler.contract import BACKFILL_TAG
from dataexchange_auto_export_handler.event_actions import Owner
from dataexchange_auto_export_handler.properties import EventActionProperties
from dataexchange_auto_export_handler.rules import PropertyError

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# An owner of all three ownership tags, as a product's event actions carry them.
OWNER = Owner("arn:aws:cloudformation:us-east-1:123456789012:stack/S/1", "Export", "prod-uEXAMPLEabc1d")

CASES: list[tuple[str, dict[str, Any], bool]] = [
    # Ids: 30 to 40 letters or digits (API reference, Id pattern).
    ("id of 29", {"DataSetId": "a" * 29}, False),
    ("id of 30", {"DataSetId": "a" * 30}, True),
    ("id of 40, mixed case", {"DataSetId": "aB3" * 13 + "x"}, True),
    ("id of 41", {"DataSetId": "a" * 41}, False),
    ("id with a dash", {"DataSetId": "a" * 31 + "-b"}, False),
    # Bucket names (S3 general purpose bucket naming rules).
    ("bucket of 2", {"Bucket": "ab"}, False),
    ("bucket of 3", {"Bucket": "abc"}, True),
    ("bucket of 63", {"Bucket": "b" * 63}, True),
    ("bucket of 64", {"Bucket": "b" * 64}, False),
    ("bucket with dots and dashes", {"Bucket": "my.export-bucket"}, True),
    ("bucket in upper case", {"Bucket": "MyBucket"}, False),
    ("bucket with an underscore", {"Bucket": "my_bucket"}, False),
    ("bucket with two adjacent dots", {"Bucket": "my..bucket"}, False),
    ("bucket like an IP address", {"Bucket": "192.168.5.4"}, False),
    ("bucket with the xn-- prefix", {"Bucket": "xn--bucket"}, False),
    ("bucket with the -s3alias suffix", {"Bucket": "bucket-s3alias"}, False),
    ("bucket ending in a dash", {"Bucket": "bucket-"}, False),
    # Key patterns (user guide, "Key patterns when exporting revisions").
    ("every documented reference", {"KeyPattern": "${DataSet.Id}/${DataSet.Name}/${Revision.Id}/${Asset.Id}"}, True),
    ("date parts", {"KeyPattern": "${Revision.CreatedAt.Year}/${Revision.CreatedAt.Month}/${Asset.Name}"}, True),
    ("pattern without an asset reference", {"KeyPattern": "${Revision.Id}/data.csv"}, False),
    ("unknown reference", {"KeyPattern": "${Asset.Size}/${Asset.Name}"}, False),
    ("unclosed reference", {"KeyPattern": "${Asset.Name}/${Revision.Id"}, False),
    # KMS key ARNs (KMS developer guide, "Key ARN"): a key id, never an alias.
    ("key ARN", {"KmsKeyArn": KEY}, True),
    (
        "multi-Region key ARN",
        {"KmsKeyArn": KEY.replace("1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-" + "a1" * 16)},
        True,
    ),
    ("alias ARN", {"KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:alias/exports"}, False),
    (
        "key ARN with a malformed key id",
        {"KmsKeyArn": KEY.replace("1234abcd-12ab-34cd-56ef-1234567890ab", "abc")},
        False,
    ),
    # Tags: 50 per resource (the package keeps 4: 3 for ownership, 1 for the backfill), keys 1-128, values 0-256,
    # aws: reserved.
    ("46 user tags", {"Tags": {f"k{i}": "v" for i in range(46)}}, True),
    ("47 user tags", {"Tags": {f"k{i}": "v" for i in range(47)}}, False),
    ("tag key of 128", {"Tags": {"k" * 128: "v"}}, True),
    ("tag key of 129", {"Tags": {"k" * 129: "v"}}, False),
    ("tag value of 256", {"Tags": {"k": "v" * 256}}, True),
    ("tag value of 257", {"Tags": {"k": "v" * 257}}, False),
    ("empty tag value", {"Tags": {"k": ""}}, True),
    ("aws: tag key", {"Tags": {"aws:owner": "me"}}, False),
]


def handler_accepts(properties: dict[str, Any]) -> bool:
    try:
        EventActionProperties.from_properties(properties)
    except PropertyError:
        return False
    return True


def endpoint_accepts(endpoint: DataExchangeEndpoint, properties: dict[str, Any]) -> bool:
    # What the handler would send, built without the handler's checks so the endpoint judges alone.
    encryption = {"Type": "aws:kms", "KmsKeyArn": properties["KmsKeyArn"]} if "KmsKeyArn" in properties else None
    destination = {"Bucket": properties["Bucket"]}
    if "KeyPattern" in properties:
        destination["KeyPattern"] = properties["KeyPattern"]
    action: dict[str, Any] = {"ExportRevisionToS3": {"RevisionDestination": destination}}
    if encryption:
        action["ExportRevisionToS3"]["Encryption"] = encryption
    client = local_client(endpoint.url, config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    try:
        client.create_event_action(
            Action=action,
            Event={"RevisionPublished": {"DataSetId": properties["DataSetId"]}},
            Tags={**properties.get("Tags", {}), **OWNER.tags(), BACKFILL_TAG: "chain:1:"},
        )
    except client.exceptions.ValidationException:
        return False
    return True


@pytest.mark.parametrize(("overrides", "documented"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_handler_and_the_endpoint_agree_with_the_documentation(
    endpoint: DataExchangeEndpoint, overrides: dict[str, Any], documented: bool
) -> None:
    properties = {"DataSetId": DATA_SET, "Bucket": "destination-bucket", **overrides}

    assert (handler_accepts(properties), endpoint_accepts(endpoint, properties)) == (documented, documented)
