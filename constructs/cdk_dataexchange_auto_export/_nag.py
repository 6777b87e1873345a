"""Acknowledging cdk-nag findings on resources the user cannot change.

cdk-nag 3 (AwsSolutions) names each IAM5 finding after the wildcard resource as it renders it, and
matches an acknowledgement by that exact id: there is no rule-wide form. The rendering below mirrors
cdk-nag's `flattenCfnReference` (src/utils/flatten-cfn-reference.ts): `${X}` becomes `<X>`, `Ref`
and `Fn::GetAtt` become `<Name>` and `<Name.Attribute>`, `Fn::Join` joins, and anything else is
its JSON.
"""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def _flatten_cfn_reference(value: object) -> str:
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(_flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return _flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{_flatten_cfn_reference(resource)}.{_flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return _flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{_flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def acknowledge_wildcard(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledges AwsSolutions-IAM5 for one wildcard resource of a policy on `scope`, so users who run
    cdk-nag get a clean result for what they do not control; any other finding is still reported."""
    finding = _flatten_cfn_reference(Stack.of(scope).resolve(resource))
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{finding}]", reason=reason))
