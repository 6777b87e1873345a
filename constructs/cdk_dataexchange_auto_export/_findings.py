"""Compliance findings on the construct's own resources that hold for every user, carried in the template
with their reasons: cdk-nag acknowledgements, and checkov skips in the resource's Metadata (the way AWS
Solutions Constructs carry theirs). A finding that a prop clears is never silenced here.

cdk-nag 3 (AwsSolutions) names each IAM5 finding after the wildcard resource as it renders it, and
matches an acknowledgement by that exact id: there is no rule-wide form. The rendering below mirrors
cdk-nag's `flattenCfnReference` (src/utils/flatten-cfn-reference.ts, the same in cdk-nag 2 and 3): `${X}`
becomes `<X>`, `Ref` and `Fn::GetAtt` become `<Name>` and `<Name.Attribute>`, `Fn::Join` joins, and anything
else is its JSON. A test fails when an acknowledgement made here matches no finding cdk-nag reports.

cdk-nag 2 has no acknowledgements: its aspect reads suppressions from each resource's Metadata
(`cdk_nag.rules_to_suppress`, src/utils/nag-suppression-helper.ts of its 2.38 release), a rule id with the
findings it applies to (`applies_to`, matched exactly: `Resource::...` for an IAM5 finding). Each
acknowledgement is written there too, with the same reason, on the resources under its scope.
"""

from __future__ import annotations

import base64
import json
from importlib.metadata import version

import aws_cdk as cdk
from aws_cdk import CfnResource, Stack
from constructs import IConstruct


def flatten_cfn_reference(value: object) -> str:
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


# Context that, set to false, shows every cdk-nag finding on the construct's resources, acknowledged or not:
# for an audit, and for the test that each acknowledgement matches a finding of cdk-nag's own.
ACKNOWLEDGE_CONTEXT = "@cdk-dataexchange-auto-export/acknowledgeFindings"
# aws-cdk-lib's Validations.acknowledge takes cdk-nag 3's finding ids, "::" and all, from 2.269.0 on
# (aws/aws-cdk#38787); older releases reject them or have no such API. There the construct acknowledges nothing
# and otherwise works the same (pyproject.toml's lower bound is older).
ACKNOWLEDGING_RELEASE = (2, 269, 0)
ACKNOWLEDGES = tuple(int(part) for part in version("aws-cdk-lib").split(".")[:3]) >= ACKNOWLEDGING_RELEASE


# Where cdk-nag 2 reads a resource's suppressions.
CDK_NAG_2_METADATA = "cdk_nag"


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledges one cdk-nag finding on `scope` and below, by the id cdk-nag reports it under: cdk-nag 3's
    acknowledgement, and cdk-nag 2's suppression in the Metadata of every resource under `scope` so far (a role's
    resource and its policies, which are made before their wildcards are acknowledged)."""
    if str(scope.node.try_get_context(ACKNOWLEDGE_CONTEXT)).lower() == "false":
        return
    if ACKNOWLEDGES:
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))
    suppression = _cdk_nag_2_suppression(finding, reason)
    for resource in scope.node.find_all():
        if isinstance(resource, CfnResource):
            present = resource.get_metadata(CDK_NAG_2_METADATA) or {}
            rules = [rule for rule in present.get("rules_to_suppress", []) if rule != suppression]
            resource.add_metadata(CDK_NAG_2_METADATA, {**present, "rules_to_suppress": [*rules, suppression]})


def _cdk_nag_2_suppression(finding: str, reason: str) -> dict[str, object]:
    """`AwsSolutions-IAM5[Resource::*]` as cdk-nag 2 suppresses it: the rule, and the finding in `applies_to`. A
    reason with characters beyond Latin-1 goes base64-encoded, as cdk-nag 2's own NagSuppressions writes it."""
    rule, _, applies_to = finding.partition("[")
    suppression: dict[str, object] = {"id": rule, "reason": reason}
    if applies_to:
        suppression["applies_to"] = [applies_to.removesuffix("]")]
    if any(ord(character) > 255 for character in reason):
        suppression.update(reason=base64.b64encode(reason.encode()).decode(), is_reason_encoded=True)
    return suppression


def acknowledge_wildcard(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledges AwsSolutions-IAM5 for one wildcard resource of a policy on `scope`; any other finding
    is still reported."""
    acknowledge(
        scope, f"AwsSolutions-IAM5[Resource::{flatten_cfn_reference(Stack.of(scope).resolve(resource))}]", reason
    )


def skip_checkov(construct: IConstruct, *skips: tuple[str, str]) -> None:
    """Adds (check id, comment) entries to checkov's `Metadata.checkov.skip` of the construct's resource."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CloudFormation resource"
    present = resource.get_metadata("checkov") or {}
    entries = [*present.get("skip", []), *({"id": check, "comment": comment} for check, comment in skips)]
    resource.add_metadata("checkov", {**present, "skip": entries})
