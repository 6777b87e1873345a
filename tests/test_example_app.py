"""The example app through the real CDK CLI (`npx cdk synth`, built-in validation on), and cfn-lint."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint  # type: ignore[import-untyped]
from support import ALERT_EMAIL, DATA_SET, CliSynth, cdk_synth

from app import STACK_NAME
from cdk_dataexchange_auto_export import EVENT_ACTION_RESOURCE_TYPE

KMS_KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def existing_bucket_synth(tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    """Every optional context key: an existing bucket, a key pattern with ${DataSet.Name}, a KMS key, adoption
    and the newest 25 existing revisions."""
    return cdk_synth(
        tmp_path_factory.mktemp("existing") / "cdk.out",
        dataSetId=DATA_SET,
        bucketName="existing-bucket",
        keyPattern="${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}",
        kmsKeyArn=KMS_KEY_ARN,
        adoptExisting="true",
        exportExisting="25",
    )


def lint_findings(template: dict[str, Any]) -> list[str]:
    """cfn-lint's errors and warnings, less the one redundant DependsOn that aws-cdk-lib itself writes:
    lambda.Function always depends on its role (for the role's default policy) and also takes the role's
    ARN by Fn::GetAtt, which cfn-lint reports as W3005. Anything else is a finding."""
    functions = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    findings = []
    for match in lint(json.dumps(template), regions=["us-east-1"]):
        if match.rule.id == "W3005" and len(match.path) == 4:
            _, resource, key, index = match.path
            depends_on = template["Resources"][resource].get("DependsOn", [])
            role = template["Resources"][resource]["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0]
            if resource in functions and key == "DependsOn" and depends_on[index] == role:
                continue
        findings.append(f"{match.rule.id} {match.path_string}: {match.message}")
    return findings


def test_the_cli_synthesizes_the_example_app(example_synth: CliSynth) -> None:
    assert example_synth.returncode == 0, example_synth.output
    template = example_synth.template
    resources = [resource["Type"] for resource in template["Resources"].values()]
    assert resources.count(EVENT_ACTION_RESOURCE_TYPE) == 1
    assert resources.count("AWS::Lambda::Function") == 1
    assert resources.count("AWS::S3::BucketPolicy") == 1
    assert "is imported" not in example_synth.output


def test_the_outputs_name_the_event_action_and_the_alert_topic(example_synth: CliSynth) -> None:
    template = example_synth.template
    (resource_id,) = [name for name, r in template["Resources"].items() if r["Type"] == EVENT_ACTION_RESOURCE_TYPE]
    (topic_id,) = [name for name, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    outputs = template["Outputs"]
    assert outputs["EventActionArn"]["Value"] == {"Fn::GetAtt": [resource_id, "Arn"]}
    assert outputs["EventActionId"]["Value"] == {"Fn::GetAtt": [resource_id, "Id"]}
    assert outputs["AlertTopicArn"]["Value"] == {"Ref": topic_id}


def test_alert_email_makes_an_encrypted_tls_only_topic_that_failed_exports_reach(example_synth: CliSynth) -> None:
    resources = example_synth.template["Resources"]
    ((topic_id, topic),) = [(name, r) for name, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    (subscription,) = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    (topic_policy,) = [r for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    # Failed exports and drift reports reach the topic; the provider's drift check is the other rule
    rule, drift = [
        r for r in resources.values() if r["Type"] == "AWS::Events::Rule" and r["Properties"].get("EventPattern")
    ]
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    assert resources[key_id]["Properties"]["EnableKeyRotation"] is True
    assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == ("email", ALERT_EMAIL)
    denied = [s for s in topic_policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert denied and all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denied)
    assert rule["Properties"]["EventPattern"]["detail-type"] == [
        {"equals-ignore-case": "Auto-export Job Failed"},
        {"equals-ignore-case": "Backfill Failed"},
    ]
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Ref": topic_id}
    assert drift["Properties"]["EventPattern"]["detail-type"] == ["Export Drift Detected"]
    assert drift["Properties"]["Targets"][0]["Arn"] == {"Ref": topic_id}


def test_the_own_bucket_is_private_encrypted_and_kept(example_synth: CliSynth) -> None:
    template = example_synth.template
    (bucket,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "BucketEncryption" in bucket["Properties"]


def test_cfn_lint_finds_nothing_in_the_example_template(example_synth: CliSynth) -> None:
    assert lint_findings(example_synth.template) == []


def test_cfn_lint_finds_nothing_with_every_option(existing_bucket_synth: CliSynth) -> None:
    assert lint_findings(existing_bucket_synth.template) == []


def test_an_existing_bucket_prints_the_statement_to_add(existing_bucket_synth: CliSynth) -> None:
    # Given -c bucketName=existing-bucket: synth succeeds, warns, and changes no bucket policy
    assert existing_bucket_synth.returncode == 0, existing_bucket_synth.output
    assert re.search(r"Bucket existing-bucket is imported.*dataexchange\.amazonaws\.com", existing_bucket_synth.output)
    assert '"Resource": "arn:aws:s3:::existing-bucket/*"' in existing_bucket_synth.output
    template = existing_bucket_synth.template
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::S3::")]
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == EVENT_ACTION_RESOURCE_TYPE]
    assert resource["Properties"]["Bucket"] == "existing-bucket"
    assert resource["Properties"]["KmsKeyArn"] == KMS_KEY_ARN
    assert resource["Properties"]["KeyPattern"] == "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}"
    assert (resource["Properties"]["AdoptExisting"], resource["Properties"]["ExportExistingRevisions"]) == (
        "true",
        "25",
    )


def test_synth_without_data_set_id_says_how_to_pass_it(tmp_path: Path) -> None:
    result = cdk_synth(tmp_path / "cdk.out")
    assert result.returncode != 0
    assert "-c dataSetId=" in result.output


def test_synth_with_an_invalid_data_set_id_names_it(tmp_path: Path) -> None:
    result = cdk_synth(tmp_path / "cdk.out", dataSetId="not-a-data-set-id")
    assert result.returncode != 0
    assert "'not-a-data-set-id' is not a data set id" in result.output
    assert not (tmp_path / "cdk.out" / f"{STACK_NAME}.template.json").exists()
