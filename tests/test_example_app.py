"""The example app through the real CDK CLI (`npx cdk synth`, built-in validation on), and cfn-lint."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint  # type: ignore[import-untyped]

from app import STACK_NAME
from cdk_dataexchange_auto_export import RESOURCE_TYPE
from offline import toolchain
from offline.toolchain import REPO

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass
class CliSynth:
    returncode: int
    output: str  # stdout and stderr
    outdir: Path

    @property
    def template(self) -> dict[str, Any]:
        assert self.returncode == 0, self.output
        return json.loads((self.outdir / f"{STACK_NAME}.template.json").read_text())  # type: ignore[no-any-return]


def cdk_synth(outdir: Path, **context: str) -> CliSynth:
    cdk = REPO / "node_modules" / ".bin" / "cdk"
    if not cdk.exists() or shutil.which("npx") is None:
        pytest.fail(f"{cdk} or npx is missing: run `make setup` (npm ci installs the pinned CDK CLI)")
    result = toolchain.cdk_synth(outdir, context)
    return CliSynth(result.returncode, result.stdout + result.stderr, outdir)


@pytest.fixture(scope="module")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    """`cdk synth -c dataSetId=...`: the example as the README shows it, with its own bucket."""
    return cdk_synth(tmp_path_factory.mktemp("default") / "cdk.out", dataSetId=DATA_SET)


@pytest.fixture(scope="module")
def existing_bucket_synth(tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    """Every optional context key: an existing bucket, a key pattern with ${DataSet.Name}, a KMS key."""
    return cdk_synth(
        tmp_path_factory.mktemp("existing") / "cdk.out",
        dataSetId=DATA_SET,
        bucketName="existing-bucket",
        keyPattern="${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}",
        kmsKeyArn=KMS_KEY_ARN,
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


def test_the_cli_synthesizes_the_example_app(default_synth: CliSynth) -> None:
    assert default_synth.returncode == 0, default_synth.output
    template = default_synth.template
    resources = [resource["Type"] for resource in template["Resources"].values()]
    assert resources.count(RESOURCE_TYPE) == 1
    assert resources.count("AWS::Lambda::Function") == 1
    assert resources.count("AWS::S3::BucketPolicy") == 1
    assert "is imported" not in default_synth.output


def test_the_outputs_name_the_event_action(default_synth: CliSynth) -> None:
    template = default_synth.template
    (resource_id,) = [name for name, r in template["Resources"].items() if r["Type"] == RESOURCE_TYPE]
    outputs = template["Outputs"]
    assert outputs["EventActionArn"]["Value"] == {"Fn::GetAtt": [resource_id, "Arn"]}
    assert outputs["EventActionId"]["Value"] == {"Fn::GetAtt": [resource_id, "Id"]}


def test_the_own_bucket_is_private_encrypted_and_kept(default_synth: CliSynth) -> None:
    template = default_synth.template
    (bucket,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "BucketEncryption" in bucket["Properties"]


def test_cfn_lint_finds_nothing_in_the_example_template(default_synth: CliSynth) -> None:
    assert lint_findings(default_synth.template) == []


def test_cfn_lint_finds_nothing_with_every_option(existing_bucket_synth: CliSynth) -> None:
    assert lint_findings(existing_bucket_synth.template) == []


def test_an_existing_bucket_prints_the_statement_to_add(existing_bucket_synth: CliSynth) -> None:
    # Given -c bucketName=existing-bucket: synth succeeds, warns, and changes no bucket policy
    assert existing_bucket_synth.returncode == 0, existing_bucket_synth.output
    assert re.search(r"Bucket existing-bucket is imported.*dataexchange\.amazonaws\.com", existing_bucket_synth.output)
    assert '"Resource": "arn:aws:s3:::existing-bucket/*"' in existing_bucket_synth.output
    template = existing_bucket_synth.template
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::S3::")]
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == RESOURCE_TYPE]
    assert resource["Properties"]["Bucket"] == "existing-bucket"
    assert resource["Properties"]["KmsKeyArn"] == KMS_KEY_ARN
    assert resource["Properties"]["KeyPattern"] == "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}"


def test_synth_without_data_set_id_says_how_to_pass_it(tmp_path: Path) -> None:
    result = cdk_synth(tmp_path / "cdk.out")
    assert result.returncode != 0
    assert "-c dataSetId=" in result.output


def test_synth_with_an_invalid_data_set_id_names_it(tmp_path: Path) -> None:
    result = cdk_synth(tmp_path / "cdk.out", dataSetId="not-a-data-set-id")
    assert result.returncode != 0
    assert "'not-a-data-set-id' is not a data set id" in result.output
    assert not (tmp_path / "cdk.out" / f"{STACK_NAME}.template.json").exists()
