"""What the construct tests share: ids, the test environment, template helpers and the three-export stack."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import dropwhile, takewhile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from nag_stacks import ACCOUNT, DATA_SET, ENV, REGION, compliant_bucket  # noqa: F401

# The ids, the environment and the bucket the cdk-nag 2 run shares (it has nothing but aws-cdk-lib and the package).
from readme import blocks as readme_blocks

from app import AutoExportStack
from cdk_dataexchange_auto_export import AutoExportEventAction
from cdk_dataexchange_auto_export._findings import ACKNOWLEDGES
from cdk_dataexchange_auto_export.local.assembly import LambdaFunction, SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.cloudformation import OfflineCloudFormation
from cdk_dataexchange_auto_export.local.iam import PermissionAudit, lambda_logging
from cdk_dataexchange_auto_export.local.lambda_runtime import Execution, LambdaRuntime, access_key_of
from tools.toolchain import REPO
from tools.toolchain import cdk_synth as run_cdk_synth

OTHER_DATA_SET = "aaaaaaaaaabbbbbbbbbbcccccccccc12"
THIRD_DATA_SET = "0123456789abcdefABCDEF0123456789"
# The user guide's example data set: another data set of the product, not one the stacks export
# (and not OTHER_DATA_SET).
GUIDE_DATA_SET = "4afc623EXAMPLE099e6fcc8EXAMPLEe8"
GUIDE_PRODUCT = "prod-uEXAMPLEabc1d"
PARTITION = {"Ref": "AWS::Partition"}
Runner = Callable[..., OfflineCloudFormation]
# The example app's alert address, as `make demo` deploys it.
ALERT_EMAIL = "data-team@example.com"
# cdk-nag 3.0.2 needs aws-cdk-lib 2.257.0, and the construct acknowledges its findings from 2.269.0 on: the
# construct tests' run on the oldest release the construct supports (requirements-cdk-lowest.txt) has no cdk-nag.
needs_cdk_nag = pytest.mark.skipif(
    not ACKNOWLEDGES, reason="cdk-nag 3 and the construct's acknowledgements need aws-cdk-lib 2.269.0 or newer"
)


def only(resources: Mapping[str, Any]) -> tuple[str, Any]:
    """The logical id and body of the one resource in `resources`."""
    assert len(resources) == 1, f"expected one resource, got {sorted(resources)}"
    return next(iter(resources.items()))


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    """The logical id CloudFormation sees for a CfnResource, or for an L2 construct's."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    return str(stack.resolve(resource.logical_id))


def statements(template: Template) -> list[dict[str, Any]]:
    """Every statement of every identity policy in the template (AWS::IAM::Policy and inline role policies)."""
    found: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        found += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in template.find_resources("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            found += inline["PolicyDocument"]["Statement"]
    return found


@dataclass
class ThreeExports:
    app: cdk.App
    stack: cdk.Stack
    bucket: s3.Bucket
    key: kms.Key
    full: AutoExportEventAction  # every prop given
    plain: AutoExportEventAction  # only the required props
    retained: AutoExportEventAction  # ${Asset.Id} key pattern, RETAIN
    template: Template


def build_three(new_cdk_app: Callable[..., cdk.App]) -> ThreeExports:
    """A stack with three constructs on one bucket: the shape most users will deploy."""
    app = new_cdk_app()
    stack = cdk.Stack(app, "Exports", env=ENV)
    bucket = s3.Bucket(stack, "Destination")
    key = kms.Key(stack, "ExportKey")
    full = AutoExportEventAction(
        stack,
        "AutoExport",
        data_set_id=DATA_SET,
        bucket=bucket,
        key_pattern="${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}",
        encryption_key=key,
        tags={"team": "market-data"},
        adopt_existing=True,
    )
    plain = AutoExportEventAction(stack, "Plain", data_set_id=OTHER_DATA_SET, bucket=bucket)
    retained = AutoExportEventAction(
        stack,
        "Retained",
        data_set_id=THIRD_DATA_SET,
        bucket=bucket,
        key_pattern="${Revision.Id}/${Asset.Id}",
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    return ThreeExports(app, stack, bucket, key, full, plain, retained, Template.from_stack(stack))


class AuditedRuntime(LambdaRuntime):
    """A Lambda runtime that checks, after each invocation, every call the function made to the offline
    services (and the logging Lambda does for it) against the function's role in the runner's stack."""

    def __init__(
        self, python: Path, aws: OfflineAws, audit: PermissionAudit, timeouts: Mapping[str, int] | None = None
    ) -> None:
        super().__init__(python, aws.environment(), timeouts)
        self.endpoints = aws.endpoints
        self.audit = audit
        self.cloudformation: OfflineCloudFormation | None = None

    def invoke(
        self,
        function: LambdaFunction,
        function_arn: str,
        event: Mapping[str, Any],
        environment: Mapping[str, str] | None = None,
    ) -> Execution:
        assert self.cloudformation is not None, "bind the runtime to its runner first"
        before = [len(endpoint.calls) for endpoint in self.endpoints]
        try:
            return super().invoke(function, function_arn, event, environment)
        finally:
            # Also when the invocation ran past its timeout: what it called until then is audited too.
            self._audit(function, function_arn, before)

    def _audit(self, function: LambdaFunction, function_arn: str, before: list[int]) -> None:
        assert self.cloudformation is not None
        if function.logical_id not in self.cloudformation.stack.resources:
            # A function the new template removed, deleting what it served: its role left with it.
            return
        caller = access_key_of(function_arn)
        calls = [
            call for endpoint, first in zip(self.endpoints, before, strict=True) for call in endpoint.calls[first:]
        ]
        requests = [request for call in calls if call.caller == caller for request in call.authorizations]
        requests += lambda_logging(self.cloudformation, function.logical_id)
        self.audit.check(self.cloudformation, function.logical_id, requests)


@dataclass
class CliSynth:
    returncode: int
    output: str  # stdout and stderr
    outdir: Path

    @property
    def template(self) -> dict[str, Any]:
        assert self.returncode == 0, self.output
        return json.loads((self.outdir / "DataExchangeAutoExport.template.json").read_text())  # type: ignore[no-any-return]


def cdk_synth(outdir: Path, **context: str) -> CliSynth:
    """The example app through the real CDK CLI, built-in validation on, as `cdk synth` runs it."""
    cdk = REPO / "node_modules" / ".bin" / "cdk"
    if not cdk.exists() or shutil.which("npx") is None:
        raise AssertionError(f"{cdk} or npx is missing: run `make setup` (npm ci installs the pinned CDK CLI)")
    result = run_cdk_synth(outdir, context)
    return CliSynth(result.returncode, result.stdout + result.stderr, outdir)


def synthesized(stack: cdk.Stack) -> SynthesizedStack:
    """The stack's cloud assembly as the offline runner reads it: its app synthesizes it in-process (once;
    a later call reads the same assembly)."""
    app = stack.node.root
    assert isinstance(app, cdk.App), f"{stack.node.path} is not in an app"
    return SynthesizedStack(Path(app.synth().directory), stack.artifact_id)


def synthesize_example(
    new_cdk_app: Callable[..., cdk.App], stack_name: str = "DataExchangeAutoExport", **props: Any
) -> SynthesizedStack:
    """The example stack with other settings, synthesized in-process (quicker than a second `cdk synth`)."""
    return synthesized(AutoExportStack(new_cdk_app(), stack_name, **props))


def synthesize_keyed(new_cdk_app: Callable[..., cdk.App], key_pattern: str, **props: Any) -> SynthesizedStack:
    """Stack "Keyed": one construct exporting DATA_SET with a KMS key and `key_pattern`, with other props as given."""
    stack = cdk.Stack(new_cdk_app(), "Keyed")
    bucket, key = s3.Bucket(stack, "Destination"), kms.Key(stack, "ExportKey")
    AutoExportEventAction(
        stack, "Export", data_set_id=DATA_SET, bucket=bucket, key_pattern=key_pattern, encryption_key=key, **props
    )
    return synthesized(stack)


def assembly_errors(outdir: Path) -> list[tuple[str, str]]:
    """(construct path, message) of every error annotation in a cloud assembly: in the manifest, or in the file an
    artifact names for its metadata (aws-cdk-lib writes them there from 2.2xx on)."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    found = []
    for artifact in manifest["artifacts"].values():
        metadata = dict(artifact.get("metadata", {}))
        if "additionalMetadataFile" in artifact:
            metadata.update(json.loads((outdir / artifact["additionalMetadataFile"]).read_text()))
        found += [
            (path, str(e["data"]))
            for path, entries in metadata.items()
            for e in entries
            if e["type"] == "aws:cdk:error"
        ]
    return found


def nag_app(new_cdk_app: Callable[..., cdk.App]) -> cdk.App:
    """An app whose synth fails on any unacknowledged cdk-nag AwsSolutions finding."""
    # Imported here: the run on the oldest aws-cdk-lib the construct supports has no cdk-nag.
    from cdk_nag import AwsSolutionsChecks

    app = new_cdk_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def readme_table(heading: str, document: str = "README.md") -> list[dict[str, str]]:
    """The rows of the first table under `heading` in README.md (or another of the repository's documents), by
    column: the README is where the compliance tests read which findings to expect, so that users see the same
    list."""
    lines = (REPO / document).read_text().splitlines()
    assert heading in lines, f"{document} has no heading {heading!r}"
    section = takewhile(lambda line: not line.startswith("#"), lines[lines.index(heading) + 1 :])
    table = list(
        takewhile(lambda line: line.startswith("|"), dropwhile(lambda line: not line.startswith("|"), section))
    )
    assert table, f"{document} has no table under {heading!r}"
    header, _, *rows = ([cell.strip() for cell in line.strip().strip("|").split("|")] for line in table)
    return [dict(zip(header, row, strict=True)) for row in rows]


def readme_code_block(heading: str) -> str:
    """The first Python code block right under `heading` in README.md: the README's examples are tests, so that they
    cannot drift from what the code does (tests/readme.py says how its blocks are told apart)."""
    title = heading.lstrip("#").strip()
    found = [block for block in readme_blocks() if block.heading == title and block.language == "python"]
    assert found, f"README.md has no Python code block under {heading!r}"
    return found[0].code


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# How the README's finding tables name a provider's resources, by construct path.
_PROVIDER_PARTS = (
    ("/Role/", "role"),
    ("/LogGroup/", "log group"),
    ("/EventInvokeConfig/", "event invoke config"),
    ("/FailedInvocations/", "rule"),
    ("/AllowEventRule", "permission"),
    ("/Handler/Resource", "function"),
    ("/Function/Resource", "function"),
)


def provider_part(path: str) -> str:
    """'handler role', 'worker log group' and the like for a resource of a provider; the path for anything else."""
    owner = "worker" if "BackfillWorker/" in path else "handler"
    return next((f"{owner} {part}" for marker, part in _PROVIDER_PARTS if marker in path), path)


def documented_event(detail_type: str, data_sets: list[str], product: str = GUIDE_PRODUCT) -> dict[str, Any]:
    """The user guide's example auto-export event ("EventBridge events for AWS Data Exchange"), for these data
    sets of `product`."""
    return {
        "version": "0",
        "id": "dc529cb6-2e23-4c5f-d020-EXAMPLE92231",
        "detail-type": detail_type,
        "source": "aws.dataexchange",
        "account": "123456789012",
        "time": "2020-07-29T18:24:04Z",
        "region": "us-east-1",
        "resources": [product],
        "detail": {
            "RevisionIds": ["3afc623EXAMPLE099e6fcc8EXAMPLEe7"],
            "Revisions": [{"Id": "3afc623EXAMPLE099e6fcc8EXAMPLEe7", "Comment": "Revision_Comment_One"}],
            "DataSetIds": data_sets,
            "DataSets": [{"Id": data_set, "Name": f"Data_Set_{number}"} for number, data_set in enumerate(data_sets)],
            "Product": {"Id": product},
        },
    }
