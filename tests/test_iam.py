"""The permission audit's policy evaluator, on the rules of the IAM user guide it is written from."""

from __future__ import annotations

from typing import Any

import pytest

from cdk_dataexchange_auto_export.local.endpoints.protocol import Authorization
from cdk_dataexchange_auto_export.local.iam import Grant, IdentityPolicy

JOBS = "arn:aws:dataexchange:us-east-1:123456789012:jobs/*"
EXPORT_JOBS = {
    "Effect": "Allow",
    "Action": ["dataexchange:CreateJob", "dataexchange:StartJob"],
    "Resource": JOBS,
    "Condition": {"StringEquals": {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}},
}


def allowed(statements: list[dict[str, Any]], action: str, resource: str, **context: str) -> bool:
    return IdentityPolicy(statements).allowing(Authorization(action, resource, context)) is not None


@pytest.mark.parametrize(
    ("action", "resource", "context", "expected"),
    [
        ("dataexchange:CreateJob", JOBS.replace("*", "abc"), {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}, True),
        ("DataExchange:createjob", JOBS.replace("*", "abc"), {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}, True),
        ("dataexchange:CreateJob", JOBS.replace("*", "abc"), {"dataexchange:JobType": "IMPORT_ASSETS_FROM_S3"}, False),
        ("dataexchange:CreateJob", JOBS.replace("*", "abc"), {}, False),
        ("dataexchange:CancelJob", JOBS.replace("*", "abc"), {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"}, False),
        (
            "dataexchange:StartJob",
            JOBS.replace("jobs", "revisions"),
            {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"},
            False,
        ),
    ],
    ids=["allowed", "action-case", "other-job-type", "key-missing", "other-action", "other-resource-type"],
)
def test_an_allow_applies_only_when_action_resource_and_condition_all_match(
    action: str, resource: str, context: dict[str, str], expected: bool
) -> None:
    assert allowed([EXPORT_JOBS], action, resource, **context) is expected


def test_wildcards_match_any_run_or_one_character_and_resources_are_case_sensitive() -> None:
    statement = {"Effect": "Allow", "Action": "s3:Put*", "Resource": "arn:aws:s3:::bucket-?/*"}
    assert allowed([statement], "s3:PutObject", "arn:aws:s3:::bucket-a/key/with/slashes")
    assert not allowed([statement], "s3:PutObject", "arn:aws:s3:::bucket-ab/key")
    assert not allowed([statement], "s3:PutObject", "arn:aws:s3:::BUCKET-a/key")


def test_an_explicit_deny_wins_over_an_allow() -> None:
    allow = {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "*"}
    deny = {
        "Effect": "Deny",
        "Action": "events:*",
        "Resource": "arn:aws:events:us-east-1:123456789012:event-bus/default",
    }
    assert not allowed([allow, deny], "events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default")
    assert allowed([allow, deny], "events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/other")


def test_a_negated_operator_holds_when_the_key_is_missing() -> None:
    statement = {**EXPORT_JOBS, "Condition": {"StringNotEquals": {"dataexchange:JobType": "IMPORT_ASSETS_FROM_S3"}}}
    assert allowed([statement], "dataexchange:CreateJob", JOBS)


def test_a_bool_condition_allows_only_a_request_whose_key_says_true() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    statement = {
        "Effect": "Allow",
        "Action": "kms:CreateGrant",
        "Resource": key,
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }
    assert allowed([statement], "kms:CreateGrant", key, **{"kms:GrantIsForAWSResource": "true"})
    assert not allowed([statement], "kms:CreateGrant", key, **{"kms:GrantIsForAWSResource": "false"})
    assert not allowed([statement], "kms:CreateGrant", key)


def test_the_grant_used_names_its_role_statement_and_action() -> None:
    policy = IdentityPolicy([EXPORT_JOBS], role="WorkerRole")
    used = policy.allowing(
        Authorization("dataexchange:StartJob", JOBS, {"dataexchange:JobType": "EXPORT_REVISIONS_TO_S3"})
    )
    assert used == Grant("WorkerRole", ("dataexchange:CreateJob", "dataexchange:StartJob"), "dataexchange:StartJob")
    assert policy.grants() - {used} == {Grant("WorkerRole", used.statement, "dataexchange:CreateJob")}


@pytest.mark.parametrize(
    "statement",
    [
        {**EXPORT_JOBS, "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    ],
    ids=["unknown-operator", "not-action"],
)
def test_what_the_evaluator_does_not_know_is_refused_not_guessed(statement: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not supported"):
        IdentityPolicy([statement])
