"""Synth-time validation: each error names the construct, the prop and the bad value; tokens wait for deploy."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from support import ACCOUNT, DATA_SET, ENV, REGION, statements

from cdk_dataexchange_auto_export import EVENT_ACTION_RESOURCE_TYPE, AutoExportEventAction


@pytest.fixture
def stack(new_cdk_app: Callable[..., cdk.App]) -> cdk.Stack:
    return cdk.Stack(new_cdk_app(), "Validation", env=ENV)


def export(stack: cdk.Stack, **props: Any) -> AutoExportEventAction:
    props.setdefault("data_set_id", DATA_SET)
    if "bucket" not in props:
        props["bucket"] = s3.Bucket(stack, "Destination")
    return AutoExportEventAction(stack, "AutoExport", **props)


def test_fails_when_data_set_id_is_malformed(stack: cdk.Stack) -> None:
    with pytest.raises(
        ValueError, match=r"Validation/AutoExport: data_set_id 'not-a-data-set-id' is not a data set id"
    ):
        export(stack, data_set_id="not-a-data-set-id")


def test_fails_when_data_set_id_is_too_short(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"data_set_id 'abc123' is not a data set id"):
        export(stack, data_set_id="abc123")


@pytest.mark.parametrize(
    ("key_pattern", "complaint"),
    [
        ("${Revision.CreatedAt}/data.csv", r"must contain \$\{Asset.Name\} or \$\{Asset.Id\}"),
        ("${Asset.Name}/${Revision.Created}", r"unknown reference \$\{Revision.Created\}"),
        ("${Revision.Id}/${Asset.Name", r"'\$\{' without its closing '\}'"),
        ("", r"must be 1 to 1024 characters long"),
    ],
    ids=["no-asset-reference", "unknown-reference", "unclosed-reference", "empty"],
)
def test_fails_when_key_pattern_is_invalid(stack: cdk.Stack, key_pattern: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=rf"key_pattern {re.escape(repr(key_pattern))} .*{complaint}"):
        export(stack, key_pattern=key_pattern)


def test_fails_when_there_are_too_many_tags(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"tags has 47 tags: at most 46"):
        export(stack, tags={f"key{i}": "value" for i in range(47)})


def test_accepts_the_most_tags_the_service_leaves_to_users(stack: cdk.Stack) -> None:
    tags = {f"key{i}": "value" for i in range(46)}

    export(stack, tags=tags)

    Template.from_stack(stack).has_resource_properties(EVENT_ACTION_RESOURCE_TYPE, {"Tags": tags})


def test_fails_when_a_tag_key_is_reserved(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"tags key 'aws:x' is reserved"):
        export(stack, tags={"aws:x": "value"})


def test_fails_when_a_tag_value_is_too_long(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"tags value for 'team' must be a string of at most 256 characters"):
        export(stack, tags={"team": "x" * 257})


def test_fails_when_the_bucket_name_is_invalid(stack: cdk.Stack) -> None:
    bucket = s3.Bucket.from_bucket_name(stack, "Destination", "Not_A_Bucket")
    with pytest.raises(ValueError, match=r"bucket 'Not_A_Bucket' is not a valid S3 bucket name"):
        export(stack, bucket=bucket)


def test_fails_when_the_key_is_an_alias(stack: cdk.Stack) -> None:
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/exports"
    key = kms.Key.from_key_arn(stack, "ExportKey", alias_arn)
    with pytest.raises(ValueError, match=r"Validation/AutoExport: encryption_key is the KMS alias alias/exports, not"):
        export(stack, encryption_key=key)


def test_tokens_are_left_to_the_handler(stack: cdk.Stack) -> None:
    # Given a data set id, key pattern and tag value known only at deploy time
    data_set_id = cdk.CfnParameter(stack, "DataSetId").value_as_string
    key_pattern = cdk.CfnParameter(stack, "KeyPattern").value_as_string
    team = cdk.CfnParameter(stack, "Team").value_as_string
    # When the construct is built, nothing is rejected
    export(stack, data_set_id=data_set_id, key_pattern=key_pattern, tags={"team": team})
    # Then the values reach the handler as references, and the pattern may need GetDataSet
    template = Template.from_stack(stack)
    template.has_resource_properties(
        EVENT_ACTION_RESOURCE_TYPE,
        {"DataSetId": {"Ref": "DataSetId"}, "KeyPattern": {"Ref": "KeyPattern"}, "Tags": {"team": {"Ref": "Team"}}},
    )
    assert any(s["Action"] == "dataexchange:GetDataSet" for s in statements(template))
