"""Where an export goes and how it is kept: the six settings a data set's resource and a product's share, in
one type that checks them, renders them into the template and back, renders the event action's Action, compares
an existing event action with them, and gives the backfill the export jobs' destination.

Importable without boto3 (the construct uses it at synth): the boto3 types are for the type checker only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .contract import ALL_REVISIONS, Property
from .rules import (
    DEFAULT_JOB_KEY_PATTERN,
    DEFAULT_KEY_PATTERN,
    PropertyError,
    check_bucket_name,
    check_existing_revisions,
    check_key_pattern,
    check_kms_key_arn,
    check_tags,
)

if TYPE_CHECKING:
    from mypy_boto3_dataexchange.type_defs import (
        ActionTypeDef,
        ExportRevisionsToS3RequestDetailsTypeDef,
        ExportServerSideEncryptionTypeDef,
        JobEntryTypeDef,
    )


def _never(_value: object) -> bool:
    return False


def check_known(
    rule: Callable[[str, str], None], value: str, name: str, unknown: Callable[[object], bool] = _never
) -> None:
    """Applies `rule`, unless the value breaks it only because it is not known yet (`unknown`, asked only then)."""
    try:
        rule(value, name)
    except PropertyError:
        if not unknown(value):
            raise


@dataclass(frozen=True)
class ExportSettings:
    """The settings. `key_pattern` None is the service's default pattern for event actions, `kms_key_arn` None
    SSE-S3; `existing_revisions` is ALL, a number of the newest revisions, or None for none."""

    bucket: str
    key_pattern: str | None = None
    kms_key_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    adopt_existing: bool = False
    existing_revisions: str | None = None

    # The resource property that holds each setting, in the template's order.
    PROPERTIES: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "bucket": Property.BUCKET,
            "key_pattern": Property.KEY_PATTERN,
            "kms_key_arn": Property.KMS_KEY_ARN,
            "tags": Property.TAGS,
            "adopt_existing": Property.ADOPT_EXISTING,
            "existing_revisions": Property.EXPORT_EXISTING_REVISIONS,
        }
    )

    def check(
        self, name: Callable[[str], str] = PROPERTIES.__getitem__, unknown: Callable[[object], bool] = _never
    ) -> None:
        """Raises PropertyError for the first setting the service would refuse, named by `name` (a setting's
        resource property unless told otherwise). A value that breaks a rule only because it is not known yet
        (`unknown`: a token, asked only of what breaks a rule) is left to the handler, which checks it at deploy
        time with these same rules."""
        rules: list[tuple[str, str | None, Callable[[str, str], None]]] = [
            ("bucket", self.bucket, check_bucket_name),
            ("key_pattern", self.key_pattern, check_key_pattern),
            ("kms_key_arn", self.kms_key_arn, check_kms_key_arn),
        ]
        for setting, value, rule in rules:
            if value is not None:
                check_known(rule, value, name(setting), unknown)
        check_tags(self.tags, name("tags"), unknown)
        if self.existing_revisions is not None:
            check_known(check_existing_revisions, self.existing_revisions, name("existing_revisions"), unknown)

    # --- the template ----------------------------------------------------------------------------

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> ExportSettings:
        """The settings as CloudFormation sent them (every value a string), checked before any API call."""
        bucket = optional_string(properties, Property.BUCKET)
        if bucket is None:
            raise PropertyError(f"{Property.BUCKET} is required")
        tags = properties.get(Property.TAGS) or {}
        if not isinstance(tags, Mapping):
            raise PropertyError(f"{Property.TAGS} must be a map of strings, got {type(tags).__name__}")
        settings = cls(
            bucket=bucket,
            key_pattern=optional_string(properties, Property.KEY_PATTERN),
            kms_key_arn=optional_string(properties, Property.KMS_KEY_ARN),
            tags=dict(tags),
            adopt_existing=_boolean(properties, Property.ADOPT_EXISTING),
            existing_revisions=optional_string(properties, Property.EXPORT_EXISTING_REVISIONS),
        )
        settings.check()
        return settings

    def to_properties(self) -> dict[str, Any]:
        """As the template holds them: what is not set is left out, and `from_properties` reads them back."""
        values = {
            "bucket": self.bucket,
            "key_pattern": self.key_pattern,
            "kms_key_arn": self.kms_key_arn,
            "tags": dict(self.tags) or None,
            "adopt_existing": "true" if self.adopt_existing else None,
            "existing_revisions": self.existing_revisions,
        }
        return {self.PROPERTIES[name]: value for name, value in values.items() if value is not None}

    # --- the event action ------------------------------------------------------------------------

    @property
    def effective_key_pattern(self) -> str:
        return self.key_pattern or DEFAULT_KEY_PATTERN

    def encryption(self) -> ExportServerSideEncryptionTypeDef:
        if self.kms_key_arn is None:
            return {"Type": "AES256"}
        return {"Type": "aws:kms", "KmsKeyArn": self.kms_key_arn}

    def action(self) -> ActionTypeDef:
        """The whole Action, defaults spelled out: whether UpdateEventAction merges or replaces an Action is
        undocumented, so leaving a default out could keep an old value."""
        return {
            "ExportRevisionToS3": {
                "Encryption": self.encryption(),
                "RevisionDestination": {"Bucket": self.bucket, "KeyPattern": self.effective_key_pattern},
            }
        }

    @classmethod
    def of_action(cls, action: ActionTypeDef) -> ExportSettings:
        """Where an event action's Action exports, as settings: no KeyPattern is the default pattern, no
        Encryption is SSE-S3 (the service may answer with defaults filled in or left out)."""
        export = action.get("ExportRevisionToS3", {})
        destination = export.get("RevisionDestination", {})
        encryption = export.get("Encryption")
        kms = encryption is not None and encryption.get("Type") == "aws:kms"
        return cls(
            bucket=destination.get("Bucket", ""),
            key_pattern=destination.get("KeyPattern") or DEFAULT_KEY_PATTERN,
            kms_key_arn=encryption.get("KmsKeyArn") if encryption is not None and kms else None,
        )

    def exports_like(self, action: ActionTypeDef) -> bool:
        """Whether `action` exports where these settings do, compared for meaning, not spelling."""
        found = self.of_action(action)
        return (found.bucket, found.effective_key_pattern, found.kms_key_arn) == (
            self.bucket,
            self.effective_key_pattern,
            self.kms_key_arn,
        )

    def describe(self) -> str:
        """The destination as a person reads it: s3://bucket/key pattern (encryption)."""
        encryption = f"SSE-KMS {self.kms_key_arn}" if self.kms_key_arn else "SSE-S3"
        return f"s3://{self.bucket}/{self.effective_key_pattern} ({encryption})"

    # --- the backfill ------------------------------------------------------------------------------

    def export_job(self, data_set_id: str, revision_id: str) -> ExportRevisionsToS3RequestDetailsTypeDef:
        """An export job's details that export one revision where the event action does."""
        return {
            "DataSetId": data_set_id,
            "Encryption": self.encryption(),
            "RevisionDestinations": [
                {"Bucket": self.bucket, "KeyPattern": self.effective_key_pattern, "RevisionId": revision_id}
            ],
        }

    def receives(self, job: JobEntryTypeDef) -> list[str]:
        """The revisions an export job exports (or exported) here: same bucket, same key pattern, each read with
        the default of its kind of job (an auto-export's is the event action's)."""
        details: Mapping[str, Any] = job.get("Details", {}).get("ExportRevisionsToS3") or {}
        default = DEFAULT_KEY_PATTERN if details.get("EventActionArn") else DEFAULT_JOB_KEY_PATTERN
        return [
            destination["RevisionId"]
            for destination in details.get("RevisionDestinations", [])
            if destination["Bucket"] == self.bucket
            and (destination.get("KeyPattern") or default) == self.effective_key_pattern
        ]

    def widens_backfill_of(self, old: ExportSettings | None) -> bool:
        """Whether these settings ask for existing revisions that `old` (None: a new event action) did not."""
        if self.existing_revisions is None:
            return False
        if old is None or old.existing_revisions is None:
            return True
        if old.existing_revisions == ALL_REVISIONS:
            return False
        return self.existing_revisions == ALL_REVISIONS or int(self.existing_revisions) > int(old.existing_revisions)

    @property
    def latest_revisions(self) -> int | None:
        """How many of the newest revisions the backfill exports; None: all of them."""
        scope = self.existing_revisions
        return None if scope is None or scope == ALL_REVISIONS else int(scope)


def optional_string(properties: Mapping[str, Any], key: str) -> str | None:
    """A string property, None when left out or empty (CloudFormation sends every value as a string)."""
    value = properties.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PropertyError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _boolean(properties: Mapping[str, Any], key: str) -> bool:
    # CloudFormation sends booleans as the strings "true" and "false".
    value = str(properties.get(key, "false")).lower()
    if value not in ("true", "false"):
        raise PropertyError(f"{key} must be true or false, got {properties[key]!r}")
    return value == "true"
