"""What the real service rejects and botocore lets through, written from AWS's documentation.

These are the stand-in's own definitions, deliberately not imported from the handler: a rule the
handler gets wrong must show up as a disagreement, not be repeated here. Sources: the Data Exchange
API reference (Id patterns, Action members, quotas), the S3 user guide's "General purpose bucket
naming rules", the KMS developer guide's "Key ARN" format, and the AWS tagging rules (50 tags,
keys of 1-128 and values of 0-256 characters, the aws: prefix reserved).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .protocol import ServiceError, validation_error

IDENTIFIER = re.compile(r"^[a-zA-Z0-9]{30,40}$")
TAGS_PER_RESOURCE = 50
TAG_KEY_LENGTH = (1, 128)
TAG_VALUE_LENGTH = (0, 256)
EVENT_ACTIONS_PER_DATA_SET = 5
EVENT_ACTIONS_PER_ACCOUNT = 50
# The quotas an account may have raised (Service Quotas, AWS Data Exchange: both adjustable), by the LimitName the
# service names them with, at their defaults.
PER_DATA_SET_QUOTA = "Auto export event actions per data set"
PER_ACCOUNT_QUOTA = "Event actions per account"
ADJUSTABLE_QUOTAS = {PER_DATA_SET_QUOTA: EVENT_ACTIONS_PER_DATA_SET, PER_ACCOUNT_QUOTA: EVENT_ACTIONS_PER_ACCOUNT}

DEFAULT_EVENT_ACTION_KEY_PATTERN = "${Revision.CreatedAt}/${Asset.Name}"
# An export job's destination without a KeyPattern (a manual export) keys objects by asset name alone.
DEFAULT_JOB_KEY_PATTERN = "${Asset.Name}"
KEY_PATTERN_VARIABLES = (
    "Asset.Id",
    "Asset.Name",
    "DataSet.Id",
    "DataSet.Name",
    "Revision.Id",
    "Revision.CreatedAt",
    "Revision.CreatedAt.Year",
    "Revision.CreatedAt.Month",
    "Revision.CreatedAt.Day",
)
_VARIABLE = re.compile(r"\$\{([^}]*)\}")

_BUCKET_CHARACTERS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_KEY_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)


def check_identifier(value: str, name: str) -> None:
    if not IDENTIFIER.match(value):
        raise validation_error(f"{name} {value!r} is not valid: expected 30 to 40 letters or digits")


def check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > TAGS_PER_RESOURCE:
        raise validation_error(f"Tags: {len(tags)} tags exceed the maximum of {TAGS_PER_RESOURCE} per resource")
    for key, value in tags.items():
        if not TAG_KEY_LENGTH[0] <= len(key) <= TAG_KEY_LENGTH[1]:
            raise validation_error(f"Tags key {key!r}: must be {TAG_KEY_LENGTH[0]} to {TAG_KEY_LENGTH[1]} characters")
        if key.lower().startswith("aws:"):
            raise validation_error(f"Tags key {key!r}: the aws: prefix is reserved for AWS use")
        if not TAG_VALUE_LENGTH[0] <= len(value) <= TAG_VALUE_LENGTH[1]:
            raise validation_error(f"Tags value for {key!r}: must be at most {TAG_VALUE_LENGTH[1]} characters")


def check_bucket(name: str) -> None:
    if (
        not _BUCKET_CHARACTERS.match(name)
        or ".." in name
        or _IPV4.match(name)
        or name.startswith(_RESERVED_BUCKET_PREFIXES)
        or name.endswith(_RESERVED_BUCKET_SUFFIXES)
    ):
        raise validation_error(f"Bucket {name!r} is not a valid bucket name")


def check_key_pattern(pattern: str) -> None:
    variables = _VARIABLE.findall(pattern)
    unknown = [variable for variable in variables if variable not in KEY_PATTERN_VARIABLES]
    if unknown:
        raise validation_error(f"KeyPattern {pattern!r}: unsupported dynamic reference ${{{unknown[0]}}}")
    if "${" in _VARIABLE.sub("", pattern):
        raise validation_error(f"KeyPattern {pattern!r}: malformed dynamic reference")
    if "Asset.Name" not in variables and "Asset.Id" not in variables:
        raise validation_error(f"KeyPattern {pattern!r}: must contain ${{Asset.Name}} or ${{Asset.Id}}")


def check_export_action(action: Mapping[str, Any] | None) -> None:
    """The service's rules on an auto-export Action beyond the model (which makes every member optional)."""
    export = (action or {}).get("ExportRevisionToS3")
    if export is None:
        raise validation_error("Action.ExportRevisionToS3: required member is missing")
    destination = export["RevisionDestination"]
    check_bucket(destination["Bucket"])
    if "KeyPattern" in destination:
        check_key_pattern(destination["KeyPattern"])
    check_encryption(export.get("Encryption"))


def names_data_set(key_pattern: str) -> bool:
    """Whether keys of the pattern hold the data set's name, which the service reads as the caller."""
    return "${DataSet.Name}" in key_pattern


def kms_key(export: Mapping[str, Any]) -> str | None:
    """The SSE-KMS key of an export (an event action's or a job's), whose grants and use are the caller's."""
    key: str | None = (export.get("Encryption") or {}).get("KmsKeyArn")
    return key


def check_encryption(encryption: Mapping[str, Any] | None) -> None:
    if encryption is None:
        return
    key = encryption.get("KmsKeyArn")
    if encryption["Type"] == "aws:kms":
        if not key:
            raise validation_error("Encryption.KmsKeyArn: required when Type is aws:kms")
        if not _KEY_ARN.match(key):
            raise validation_error(f"Encryption.KmsKeyArn {key!r} is not a KMS key ARN")
    elif key:
        raise validation_error("Encryption.KmsKeyArn: only allowed when Type is aws:kms")


def quota_exceeded(limit_name: str, limit: int, message: str) -> ServiceError:
    return ServiceError("ServiceLimitExceededException", message, LimitName=limit_name, LimitValue=limit)
