"""The property rules shared by the construct (at synth) and the handler (before any API call)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dataexchange_auto_export_handler.properties import EventActionProperties
from dataexchange_auto_export_handler.rules import DEFAULT_KEY_PATTERN, MAX_USER_TAGS, PropertyError, check_tags

VALID = {
    "ServiceToken": "arn:aws:lambda:us-east-1:1:function:f",
    "ServiceTimeout": "90",
    "DataSetId": "8d494cba5e4720172a1e69a6e1b8fed5",
    "Bucket": "destination-bucket",
}


def parse(**overrides: Any) -> EventActionProperties:
    return EventActionProperties.from_properties({**VALID, **overrides})


def test_defaults_are_the_service_key_pattern_sse_s3_and_no_tags() -> None:
    parsed = parse()

    assert (parsed.export.effective_key_pattern, parsed.export.kms_key_arn, dict(parsed.export.tags)) == (
        DEFAULT_KEY_PATTERN,
        None,
        {},
    )
    assert parsed.export.action()["ExportRevisionToS3"]["RevisionDestination"]["KeyPattern"] == DEFAULT_KEY_PATTERN


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "KeyPattern": "${Revision.Id}/${Asset.Id}",
            "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "Tags": {"team": "market-data"},
            "AdoptExisting": "true",
            "ExportExistingRevisions": "25",
        },
    ],
    ids=["required-only", "every-property"],
)
def test_to_properties_is_the_inverse_of_from_properties(overrides: dict[str, Any]) -> None:
    # Given what CloudFormation passes, less its own ServiceToken and ServiceTimeout
    sent = {key: value for key, value in {**VALID, **overrides}.items() if not key.startswith("Service")}

    parsed = EventActionProperties.from_properties(sent)

    assert parsed.to_properties() == sent


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DataSetId": "short"}, r"DataSetId 'short' is not a data set id"),
        ({"DataSetId": "8d494cba5e4720172a1e69a6e1b8fed5!"}, r"DataSetId .* is not a data set id"),
        ({"DataSetId": ""}, r"DataSetId and Bucket are required"),
        ({"Bucket": "Upper_Case"}, r"Bucket 'Upper_Case' is not a valid S3 bucket name"),
        ({"Bucket": "192.168.1.1"}, r"Bucket '192.168.1.1' is not a valid S3 bucket name"),
        ({"KeyPattern": "${Revision.Id}/data.csv"}, r"must contain \$\{Asset.Name\} or \$\{Asset.Id\}"),
        ({"KeyPattern": "${Asset.Size}/${Asset.Name}"}, r"unknown reference \$\{Asset.Size\}"),
        ({"KeyPattern": "${Asset.Name}/${Revision.Id"}, r"has a '\$\{' without its closing '\}'"),
        ({"KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:alias/mine"}, r"KmsKeyArn .* aliases are not accepted"),
        ({"Tags": {"aws:owner": "x"}}, r"Tags key 'aws:owner' is reserved"),
        ({"Tags": {"AWS:owner": "x"}}, r"Tags key 'AWS:owner' is reserved"),
        ({"Tags": {"Aws:owner": "x"}}, r"Tags key 'Aws:owner' is reserved"),
        ({"ExportExistingRevisions": "0"}, r"ExportExistingRevisions '0' must be ALL or a number of revisions from 1"),
        ({"ExportExistingRevisions": "10001"}, r"ExportExistingRevisions '10001' must be ALL or a number"),
        ({"ExportExistingRevisions": "-1"}, r"ExportExistingRevisions '-1' must be ALL or a number"),
        ({"ExportExistingRevisions": "all"}, r"ExportExistingRevisions 'all' must be ALL or a number"),
        ({"Tags": {"cdk-dataexchange-auto-export:stack-id": "x"}}, r"is reserved"),
        ({"Tags": {"k": "v" * 257}}, r"Tags value for 'k' must be a string of at most 256"),
        ({"Tags": {"k" * 129: "v"}}, r"Tags key 'k+' must be 1 to 128"),
        ({"Tags": {f"k{i}": "v" for i in range(MAX_USER_TAGS + 1)}}, r"Tags has 47 tags: at most 46"),
        ({"Tags": "team=data"}, r"Tags must be a map of strings"),
        ({"Colour": "blue"}, r"Unknown property 'Colour'"),
        ({"AdoptExisting": "yes"}, r"AdoptExisting must be true or false, got 'yes'"),
    ],
)
def test_fails_when_a_property_is_malformed(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        parse(**overrides)


def test_the_action_carries_kms_encryption_when_a_key_is_given() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"

    action = parse(KmsKeyArn=key).export.action()

    assert action["ExportRevisionToS3"]["Encryption"] == {"Type": "aws:kms", "KmsKeyArn": key}


def test_every_documented_key_pattern_reference_is_accepted() -> None:
    pattern = (
        "${DataSet.Id}/${DataSet.Name}/${Revision.Id}/${Revision.CreatedAt}/${Revision.CreatedAt.Year}/"
        "${Revision.CreatedAt.Month}/${Revision.CreatedAt.Day}/${Asset.Id}/${Asset.Name}"
    )

    action = parse(KeyPattern=pattern).export.action()

    assert action["ExportRevisionToS3"]["RevisionDestination"] == {
        "Bucket": "destination-bucket",
        "KeyPattern": pattern,
    }


@pytest.mark.parametrize(
    ("sent", "adopt"), [({}, False), ({"AdoptExisting": "false"}, False), ({"AdoptExisting": "true"}, True)]
)
def test_adopt_existing_arrives_as_a_string_and_defaults_to_false(sent: dict[str, str], adopt: bool) -> None:
    assert parse(**sent).export.adopt_existing is adopt


@pytest.mark.parametrize("count", ["1", "10000", "ALL"])
def test_export_existing_revisions_takes_all_or_1_to_10000(count: str) -> None:
    assert parse(ExportExistingRevisions=count).export.existing_revisions == count


@pytest.mark.parametrize(
    ("old", "new", "widens"),
    [
        (None, None, False),
        (None, "ALL", True),
        (None, "3", True),
        ("3", None, False),
        ("3", "3", False),
        ("3", "2", False),
        ("3", "4", True),
        ("3", "ALL", True),
        ("9", "10", True),  # compared as numbers, not as text
        ("ALL", "ALL", False),
        ("ALL", "10000", False),
    ],
)
def test_an_update_widens_the_backfill_only_when_it_asks_for_more(
    old: str | None, new: str | None, widens: bool
) -> None:
    before = parse(**({"ExportExistingRevisions": old} if old else {}))
    after = parse(**({"ExportExistingRevisions": new} if new else {}))

    assert after.widens_backfill_of(before) is widens


@pytest.mark.parametrize(("new", "widens"), [(None, False), ("1", True), ("ALL", True)])
def test_a_new_event_action_or_another_data_set_backfills_whatever_is_asked(new: str | None, widens: bool) -> None:
    asked = parse(**({"ExportExistingRevisions": new} if new else {}))
    on_another_data_set = parse(DataSetId="aaaaaaaaaabbbbbbbbbbcccccccccc12", ExportExistingRevisions="ALL")

    assert asked.widens_backfill_of(None) is widens
    assert asked.widens_backfill_of(on_another_data_set) is widens


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"KeyPattern": "k" * 1014 + "${Asset.Id}"},
            f"KeyPattern {'k' * 1014 + '${Asset.Id}'!r} must be 1 to 1024 characters long",
        ),
        (
            {"KeyPattern": "${Asset.Size}/${Asset.Name}"},
            "KeyPattern '${Asset.Size}/${Asset.Name}' uses unknown reference ${Asset.Size}: allowed are ${Asset.Id}, "
            "${Asset.Name}, ${DataSet.Id}, ${DataSet.Name}, ${Revision.CreatedAt}, ${Revision.CreatedAt.Day}, "
            "${Revision.CreatedAt.Month}, ${Revision.CreatedAt.Year}, ${Revision.Id}",
        ),
        (
            {"KeyPattern": "${Revision.Id}/data.csv"},
            "KeyPattern '${Revision.Id}/data.csv' must contain ${Asset.Name} or ${Asset.Id}, otherwise every asset "
            "of a revision is written to the same key",
        ),
        ({"KeyPattern": 5}, "KeyPattern must be a string, got int"),
        ({"Tags": "team=data"}, "Tags must be a map of strings, got str"),
        ({"Bucket": ""}, "DataSetId and Bucket are required"),
        (
            {"Colour": "blue"},
            "Unknown property 'Colour': expected AdoptExisting, Bucket, DataSetId, ExportExistingRevisions, "
            "KeyPattern, KmsKeyArn, Repair, ServiceTimeout, ServiceToken, Tags",
        ),
    ],
    ids=["too-long", "unknown-reference", "no-asset", "not-a-string", "tags-not-a-map", "no-bucket", "unknown"],
)
def test_a_malformed_property_is_named_in_full(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropertyError) as raised:
        parse(**overrides)

    assert str(raised.value) == message


def test_a_dollar_sign_before_a_reference_is_text_not_an_unclosed_reference() -> None:
    pattern = "$${Revision.Id}{x}/${Asset.Name}"

    assert parse(KeyPattern=pattern).export.key_pattern == pattern


def test_a_key_pattern_of_1024_characters_is_accepted() -> None:
    pattern = "k" * 1013 + "${Asset.Id}"

    assert parse(KeyPattern=pattern).export.key_pattern == pattern


def test_tags_skipped_as_unresolved_are_counted_but_not_checked_and_the_others_are() -> None:
    unresolved = "${Token[TOKEN.1]}"

    def token(text: str) -> bool:
        return text.startswith("${Token")

    check_tags({unresolved: "v", "k": unresolved}, "Tags", unknown=token)
    with pytest.raises(PropertyError, match=f"Tags value for '{re.escape(unresolved)}' must be a string of at most"):
        check_tags({unresolved: "v" * 257}, "Tags", unknown=token)
    with pytest.raises(PropertyError, match="Tags key 'AWS:k' is reserved"):
        check_tags({unresolved: "v", "AWS:k": "v"}, "Tags", unknown=token)
    with pytest.raises(PropertyError, match=f"Tags has {MAX_USER_TAGS + 1} tags"):
        check_tags({f"{unresolved}{n}": "v" for n in range(MAX_USER_TAGS + 1)}, "Tags", unknown=token)
