"""The rules the Data Exchange service (and S3 and KMS) apply to what a resource exports, as checks.

The construct runs the same checks at synth, so a value known then fails `cdk synth` with the message the
handler would give twenty minutes into a deploy. Each check names what it checks (`name`): the construct's
prop at synth, the resource property at deploy. Standard library only: the synth environment may lack boto3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .contract import ALL_REVISIONS, MAX_REVISIONS, PACKAGE_TAGS


class PropertyError(ValueError):
    """A value the service would reject; the message names the prop or property and the value."""


# Event action ids and data set ids share this format (botocore does not check it client-side).
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{30,40}$")


def check_data_set_id(value: str, name: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise PropertyError(f"{name} {value!r} is not a data set id: expected 30 to 40 letters or digits")


# --- key patterns ------------------------------------------------------------------------------------

# The service's own default for an event action, and for a manual export job (they differ).
DEFAULT_KEY_PATTERN = "${Revision.CreatedAt}/${Asset.Name}"
DEFAULT_JOB_KEY_PATTERN = "${Asset.Name}"
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


def check_key_pattern(value: str, name: str) -> None:
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


def names_data_set(key_pattern: str) -> bool:
    """Whether the service reads the data set as the caller to render this pattern (the user guide: a
    ${DataSet.Name} pattern needs dataexchange:GetDataSet)."""
    return "${DataSet.Name}" in key_pattern


# --- tags ------------------------------------------------------------------------------------------

MAX_TAGS_PER_RESOURCE = 50
MAX_USER_TAGS = MAX_TAGS_PER_RESOURCE - len(PACKAGE_TAGS)
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256


def check_tags(tags: Mapping[str, str], name: str, unknown: Callable[[object], bool] = lambda _: False) -> None:
    """Checks the count of all tags, and each key and each value, but one that breaks a rule only because it is not
    known yet (`unknown`: an unresolved token, asked only of what breaks a rule)."""
    if len(tags) > MAX_USER_TAGS:
        raise PropertyError(
            f"{name} has {len(tags)} tags: at most {MAX_USER_TAGS} "
            f"(the service allows {MAX_TAGS_PER_RESOURCE}, {len(PACKAGE_TAGS)} are kept to recognise the event action "
            "and follow its backfill)"
        )
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH and not unknown(key):
            raise PropertyError(f"{name} key {key!r} must be 1 to {MAX_TAG_KEY_LENGTH} characters long")
        if (key.lower().startswith("aws:") or key in PACKAGE_TAGS) and not unknown(key):
            raise PropertyError(f"{name} key {key!r} is reserved")
        if (not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH) and not unknown(value):
            raise PropertyError(
                f"{name} value for {key!r} must be a string of at most {MAX_TAG_VALUE_LENGTH} characters"
            )


# --- the destination -------------------------------------------------------------------------------

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


def check_bucket_name(value: str, name: str) -> None:
    if (
        not _BUCKET_NAME.match(value)
        or ".." in value
        or _IP_ADDRESS.match(value)
        or value.startswith(_RESERVED_BUCKET_PREFIXES)
        or value.endswith(_RESERVED_BUCKET_SUFFIXES)
    ):
        raise PropertyError(f"{name} {value!r} is not a valid S3 bucket name")


def check_kms_key_arn(value: str, name: str) -> None:
    if not _KMS_KEY_ARN.match(value):
        raise PropertyError(
            f"{name} {value!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); aliases are not accepted"
        )


def check_existing_revisions(value: str, name: str) -> None:
    """ALL, or how many of the newest revisions: 1 to MAX_REVISIONS."""
    if value != ALL_REVISIONS and not (value.isdigit() and 1 <= int(value) <= MAX_REVISIONS):
        raise PropertyError(
            f"{name} {value!r} must be {ALL_REVISIONS} or a number of revisions from 1 to {MAX_REVISIONS}"
        )


# --- products --------------------------------------------------------------------------------------

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
