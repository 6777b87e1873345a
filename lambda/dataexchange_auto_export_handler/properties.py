"""The custom resource's properties and the rules the Data Exchange service applies to them.

The construct imports these checks too, so a value known at synth time fails `cdk synth`
with the same message the handler would give twenty minutes into a deploy. This module must
stay importable without boto3: the synth environment only needs aws-cdk-lib.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dataexchange.type_defs import (
        ActionTypeDef,
        EventTypeDef,
        ExportServerSideEncryptionTypeDef,
    )

# Event action ids and data set ids share this format (botocore does not check it client-side).
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{30,40}$")

# The service's own default for event actions; sent explicitly because whether UpdateEventAction
# merges or replaces the Action is undocumented, so leaving KeyPattern out could keep an old one.
DEFAULT_KEY_PATTERN = "${Revision.CreatedAt}/${Asset.Name}"
KEY_PATTERN_REFERENCES = frozenset(
    {
        "Asset.Id",
        "Asset.Name",
        "DataSet.Id",
        "DataSet.Name",
        "Revision.Id",
        "Revision.CreatedAt",
        "Revision.CreatedAt.Year",
        "Revision.CreatedAt.Month",
        "Revision.CreatedAt.Day",
    }
)
_UNIQUE_REFERENCES = ("${Asset.Name}", "${Asset.Id}")
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
MAX_S3_KEY_LENGTH = 1024

# Every event action carries these two tags so a repeated Create finds the one it already made.
STACK_ID_TAG = "cdk-dataexchange-auto-export:stack-id"
LOGICAL_ID_TAG = "cdk-dataexchange-auto-export:logical-id"
# A product's event actions carry a third: the product they export a data set of.
PRODUCT_ID_TAG = "cdk-dataexchange-auto-export:product-id"
OWNER_TAGS = (STACK_ID_TAG, LOGICAL_ID_TAG, PRODUCT_ID_TAG)
MAX_TAGS_PER_RESOURCE = 50
MAX_USER_TAGS = MAX_TAGS_PER_RESOURCE - len(OWNER_TAGS)
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256

# S3's naming rules for general purpose buckets, including the prefixes and suffixes S3 reserves.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# A key id is a UUID, or mrk- and 32 hex digits for a multi-Region key.
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)

# ServiceToken and ServiceTimeout are CloudFormation's own; it passes them along with a resource's.
_CLOUDFORMATION_PROPERTIES = frozenset({"ServiceToken", "ServiceTimeout"})
# Where an export goes and how it is kept: what a data set's resource and a product's share.
_EXPORT_PROPERTIES = frozenset(
    {"Bucket", "KeyPattern", "KmsKeyArn", "Tags", "AdoptExisting", "ExportExistingRevisions"}
)
# The source of the events the backfill worker sends when it ends ("Backfill Completed" / "Backfill Failed").
BACKFILL_SOURCE = "cdk-dataexchange-auto-export"
# What Lambda's EventBridge destination calls the record of an invocation that failed for good.
INVOCATION_FAILED_DETAIL_TYPE = "Lambda Function Invocation Result - Failure"
# A data set holds at most this many revisions (the service's quota), so no backfill asks for more.
MAX_REVISIONS = 10_000
ALL_REVISIONS = "ALL"


class PropertyError(ValueError):
    """A property value the service would reject; the message names the property and the value."""


def check_data_set_id(value: str, name: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise PropertyError(f"{name} {value!r} is not a data set id: expected 30 to 40 letters or digits")


def check_key_pattern(value: str, name: str = "KeyPattern") -> None:
    if not value or len(value) > MAX_S3_KEY_LENGTH:
        raise PropertyError(f"{name} {value!r} must be 1 to {MAX_S3_KEY_LENGTH} characters long")
    unknown = sorted({ref for ref in _REFERENCE.findall(value) if ref not in KEY_PATTERN_REFERENCES})
    if unknown:
        raise PropertyError(
            f"{name} {value!r} uses unknown reference ${{{unknown[0]}}}: "
            f"allowed are {', '.join('${' + ref + '}' for ref in sorted(KEY_PATTERN_REFERENCES))}"
        )
    # Piece by piece: text on either side of a reference is not joined up ("$${Revision.Id}{" is well formed).
    if any("${" in text for text in _REFERENCE.split(value)):
        raise PropertyError(f"{name} {value!r} has a '${{' without its closing '}}'")
    if not any(reference in value for reference in _UNIQUE_REFERENCES):
        raise PropertyError(
            f"{name} {value!r} must contain ${{Asset.Name}} or ${{Asset.Id}}, "
            "otherwise every asset of a revision is written to the same key"
        )


def check_tags(tags: Mapping[str, str], name: str = "Tags", skip: Callable[[str], bool] = lambda _: False) -> None:
    """Checks the count of all tags, and each key and each value that is not skipped (an unresolved token)."""
    if len(tags) > MAX_USER_TAGS:
        raise PropertyError(
            f"{name} has {len(tags)} tags: at most {MAX_USER_TAGS} "
            f"(the service allows {MAX_TAGS_PER_RESOURCE}, {len(OWNER_TAGS)} are kept to recognise the event action)"
        )
    for key, value in tags.items():
        if not skip(key) and not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise PropertyError(f"{name} key {key!r} must be 1 to {MAX_TAG_KEY_LENGTH} characters long")
        if not skip(key) and (key.lower().startswith("aws:") or key in OWNER_TAGS):
            raise PropertyError(f"{name} key {key!r} is reserved")
        if not skip(value) and (not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH):
            raise PropertyError(
                f"{name} value for {key!r} must be a string of at most {MAX_TAG_VALUE_LENGTH} characters"
            )


def check_existing_revisions(value: str, name: str = "ExportExistingRevisions") -> None:
    """ALL, or how many of the newest revisions: 1 to MAX_REVISIONS."""
    if value != ALL_REVISIONS and not (value.isdigit() and 1 <= int(value) <= MAX_REVISIONS):
        raise PropertyError(
            f"{name} {value!r} must be {ALL_REVISIONS} or a number of revisions from 1 to {MAX_REVISIONS}"
        )


def check_bucket_name(value: str, name: str = "Bucket") -> None:
    if (
        not _BUCKET_NAME.match(value)
        or ".." in value
        or _IP_ADDRESS.match(value)
        or value.startswith(_RESERVED_BUCKET_PREFIXES)
        or value.endswith(_RESERVED_BUCKET_SUFFIXES)
    ):
        raise PropertyError(f"{name} {value!r} is not a valid S3 bucket name")


def check_kms_key_arn(value: str, name: str = "KmsKeyArn") -> None:
    if not _KMS_KEY_ARN.match(value):
        raise PropertyError(
            f"{name} {value!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); aliases are not accepted"
        )


def optional_string(properties: Mapping[str, Any], key: str) -> str | None:
    value = properties.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PropertyError(f"{key} must be a string, got {type(value).__name__}")
    return value


def parse_boolean(properties: Mapping[str, Any], key: str) -> bool:
    # CloudFormation sends booleans as the strings "true" and "false".
    value = str(properties.get(key, "false")).lower()
    if value not in ("true", "false"):
        raise PropertyError(f"{key} must be true or false, got {properties[key]!r}")
    return value == "true"


@dataclass(frozen=True)
class ExportSettings:
    """Where an export goes and how it is kept, as a resource's properties say."""

    bucket: str
    key_pattern: str | None
    kms_key_arn: str | None
    tags: dict[str, str]
    adopt_existing: bool
    existing_revisions: str | None

    @classmethod
    def of(cls, properties: object) -> ExportSettings:
        """The settings of a resource's properties (a data set's or a product's), which hold them by the same names."""
        return cls(**{setting.name: getattr(properties, setting.name) for setting in fields(cls)})

    def to_resource_properties(self) -> dict[str, Any]:
        """As the template holds them: what is not set is left out."""
        properties: dict[str, Any] = {"Bucket": self.bucket}
        if self.key_pattern is not None:
            properties["KeyPattern"] = self.key_pattern
        if self.kms_key_arn is not None:
            properties["KmsKeyArn"] = self.kms_key_arn
        if self.tags:
            properties["Tags"] = dict(self.tags)
        if self.adopt_existing:
            properties["AdoptExisting"] = "true"
        if self.existing_revisions is not None:
            properties["ExportExistingRevisions"] = self.existing_revisions
        return properties


def parse_export(
    properties: Mapping[str, Any], subject: str, check_subject: Callable[[str, str], None]
) -> tuple[str, ExportSettings]:
    """What a resource exports (its property `subject`, a data set's or a product's id) and where to, checked
    as the service would check them: what CloudFormation sent, every value a string, before any API call."""
    known = _CLOUDFORMATION_PROPERTIES | _EXPORT_PROPERTIES | {subject}
    unknown = sorted(set(properties) - known)
    if unknown:
        raise PropertyError(f"Unknown property {unknown[0]!r}: expected {', '.join(sorted(known))}")
    subject_value = optional_string(properties, subject)
    bucket = optional_string(properties, "Bucket")
    if subject_value is None or bucket is None:
        raise PropertyError(f"{subject} and Bucket are required")
    key_pattern = optional_string(properties, "KeyPattern")
    kms_key_arn = optional_string(properties, "KmsKeyArn")
    tags = properties.get("Tags") or {}
    if not isinstance(tags, Mapping):
        raise PropertyError(f"Tags must be a map of strings, got {type(tags).__name__}")

    check_subject(subject_value, subject)
    check_bucket_name(bucket)
    if key_pattern is not None:
        check_key_pattern(key_pattern)
    if kms_key_arn is not None:
        check_kms_key_arn(kms_key_arn)
    check_tags(tags)
    existing_revisions = optional_string(properties, "ExportExistingRevisions")
    if existing_revisions is not None:
        check_existing_revisions(existing_revisions)
    adopt_existing = parse_boolean(properties, "AdoptExisting")
    export = ExportSettings(bucket, key_pattern, kms_key_arn, dict(tags), adopt_existing, existing_revisions)
    return subject_value, export


@dataclass(frozen=True)
class EventActionProperties:
    """The custom resource's properties: what the construct writes into the template, and what the
    handler reads back. `key_pattern` None means the service's default pattern."""

    data_set_id: str
    bucket: str
    key_pattern: str | None = None
    kms_key_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    adopt_existing: bool = False
    existing_revisions: str | None = None  # ALL, or the number of newest revisions to export; None: none

    @classmethod
    def from_resource_properties(cls, properties: Mapping[str, Any]) -> EventActionProperties:
        """Checks what CloudFormation sent (every value a string) before any API call is made."""
        data_set_id, export = parse_export(properties, "DataSetId", check_data_set_id)
        return cls(data_set_id, **asdict(export))

    def to_resource_properties(self) -> dict[str, Any]:
        """The inverse of `from_resource_properties`; what is not set is left out of the template."""
        return {"DataSetId": self.data_set_id, **ExportSettings.of(self).to_resource_properties()}

    def widens_backfill_of(self, old: EventActionProperties | None) -> bool:
        """Whether these properties ask for existing revisions that `old` (None: a new event action) did not."""
        if self.existing_revisions is None:
            return False
        if old is None or old.existing_revisions is None or old.data_set_id != self.data_set_id:
            return True
        if old.existing_revisions == ALL_REVISIONS:
            return False
        return self.existing_revisions == ALL_REVISIONS or int(self.existing_revisions) > int(old.existing_revisions)

    @property
    def effective_key_pattern(self) -> str:
        return self.key_pattern or DEFAULT_KEY_PATTERN

    def action(self) -> ActionTypeDef:
        """The whole Action, always explicit, so Create and Update send the same thing."""
        encryption: ExportServerSideEncryptionTypeDef = (
            {"Type": "AES256"} if self.kms_key_arn is None else {"Type": "aws:kms", "KmsKeyArn": self.kms_key_arn}
        )
        return {
            "ExportRevisionToS3": {
                "Encryption": encryption,
                "RevisionDestination": {"Bucket": self.bucket, "KeyPattern": self.effective_key_pattern},
            }
        }

    def event(self) -> EventTypeDef:
        return {"RevisionPublished": {"DataSetId": self.data_set_id}}
