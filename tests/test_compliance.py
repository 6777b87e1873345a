"""checkov's CloudFormation checks on the construct's own resources report exactly what the README's table
says: the findings a choice of the user's clears, until it is made, and skips carrying their comments."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from support import DATA_SET, ENV, provider_part, readme_table

from cdk_dataexchange_auto_export import (
    AutoExportEventAction,
    AutoExportEventActionProvider,
    AutoExportProduct,
    ExistingRevisions,
)
from tools.toolchain import CHECKOV

CHECKOV_TABLE = "### checkov"


def default_construct(stack: cdk.Stack) -> AutoExportEventActionProvider:
    """The construct as most users deploy it: the stack's shared provider, a backfill, a key and an alert."""
    AutoExportEventAction(
        stack,
        "Export",
        data_set_id=DATA_SET,
        bucket=s3.Bucket(stack, "Destination"),
        encryption_key=kms.Key(stack, "ExportKey"),
        alert_topic=sns.Topic(stack, "Alerts"),
        export_existing_revisions=ExistingRevisions.ALL,
    )
    return AutoExportEventActionProvider.of(stack)


def default_product(stack: cdk.Stack) -> AutoExportEventActionProvider:
    """A product followed as most users follow one: the same provider, and the product's rules."""
    AutoExportProduct(
        stack,
        "Export",
        product_id="prod-uexample0abc1d",
        bucket=s3.Bucket(stack, "Destination"),
        encryption_key=kms.Key(stack, "ExportKey"),
        alert_topic=sns.Topic(stack, "Alerts"),
        export_existing_revisions=ExistingRevisions.ALL,
    )
    return AutoExportEventActionProvider.of(stack)


def provider_of_the_users(stack: cdk.Stack) -> AutoExportEventActionProvider:
    """Everything a user's choice clears, chosen: a VPC's private subnets, a security group, a log group
    encrypted with a key of the user's."""
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    provider = AutoExportEventActionProvider(
        stack,
        "Provider",
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        security_groups=[ec2.SecurityGroup(stack, "Egress", vpc=vpc)],
        log_group=logs.LogGroup(stack, "Logs", encryption_key=kms.Key(stack, "LogKey")),
    )
    AutoExportEventAction(
        stack,
        "Export",
        data_set_id=DATA_SET,
        bucket=s3.Bucket(stack, "Destination"),
        provider=provider,
        export_existing_revisions=ExistingRevisions.ALL,
    )
    return provider


def own_resources(stack: cdk.Stack, provider: AutoExportEventActionProvider) -> dict[str, str]:
    """Logical id -> construct path of everything the construct made: its custom resource and rules, its
    provider's and the worker's resources; not the user's bucket, key, topic, VPC or log group."""
    assert provider.backfill_function is not None
    scopes = [stack.node.find_child("Export"), provider, provider.backfill_function.node.scope]
    return {
        str(stack.resolve(resource.logical_id)): resource.node.path
        for scope in scopes
        for resource in scope.node.find_all()
        if isinstance(resource, cdk.CfnResource)
    }


def checkov(template: Path) -> list[dict[str, Any]]:
    """checkov's failed and skipped CloudFormation checks on the template."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make setup` (requirements-checkov.txt)")
    # --skip-download: the checks ship with checkov; nothing is fetched from its vendor's platform.
    command = [str(CHECKOV), "-f", template.name, "--framework", "cloudformation", "-o", "json"]
    result = subprocess.run(
        [*command, "--skip-download", "--soft-fail"], cwd=template.parent, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["results"]
    return [*report["failed_checks"], *report["skipped_checks"]]


def documented(handling: str) -> set[tuple[str, str]]:
    """(check id, resource name) for each resource of each README row handled so: "reported" or "skipped"."""
    return {
        (check, name.strip())
        for row in readme_table(CHECKOV_TABLE, "docs/iam.md")
        if row["in the template"] == handling
        for check in re.findall(r"CKV2?_AWS_\d+", row["check"])[:1]
        for name in row["on"].split(",")
    }


@pytest.mark.parametrize(
    ("build", "visible"),
    [
        (default_construct, documented("reported")),
        (default_product, documented("reported")),
        (provider_of_the_users, set()),
    ],
    ids=["default construct", "a product", "provider of the user's own"],
)
def test_checkov_reports_on_the_constructs_resources_exactly_what_the_readme_lists(
    new_cdk_app: Callable[..., cdk.App],
    build: Callable[[cdk.Stack], AutoExportEventActionProvider],
    visible: set[object],
) -> None:
    # Given the stack, synthesized
    app = new_cdk_app()
    stack = cdk.Stack(app, "Scanned", env=ENV)
    ours = own_resources(stack, build(stack))
    template = Path(app.synth().get_stack_artifact(stack.artifact_id).template_full_path)
    # When checkov scans it, keeping the findings on the construct's own resources
    findings = [
        (finding, ours[logical_id])
        for finding in checkov(template)
        if (logical_id := finding["resource"].split(".", 1)[1]) in ours
    ]
    found = {
        status: {
            (finding["check_id"], provider_part(path))
            for finding, path in findings
            if finding["check_result"]["result"] == status
        }
        for status in ("FAILED", "SKIPPED")
    }
    # Then it reports what only a choice of the user's clears, until it is made, and skips the rest
    assert found["FAILED"] == visible
    assert found["SKIPPED"] == documented("skipped")
    # And each skip carries the construct's comment from the template
    resources = json.loads(template.read_text())["Resources"]
    for finding, _ in findings:
        if finding["check_result"]["result"] == "SKIPPED":
            logical_id = finding["resource"].split(".", 1)[1]
            comments = {skip["id"]: skip["comment"] for skip in resources[logical_id]["Metadata"]["checkov"]["skip"]}
            assert finding["check_result"]["suppress_comment"] == comments[finding["check_id"]]
            assert len(comments[finding["check_id"]]) > 40, "a skip says why"
