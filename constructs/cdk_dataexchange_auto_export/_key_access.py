"""What exporting under an SSE-KMS key needs of it: creating the event action makes Data Exchange take a grant
on the key as the caller, and deleting it revokes that grant (the native AWS::DataExchange::EventAction handler
needs both). Added to the handler's role once per key; an imported key's policy cannot be changed here, so one
warning per key names every construct using it."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import IConstruct

from ._warnings import shown, warn_once

KEY_POLICY_WARNING_ID = "@cdk-dataexchange-auto-export/keyPolicy"
# Data Exchange creates and revokes its grant on an SSE-KMS key as the caller, on the caller's behalf.
GRANT_FOR_AWS_RESOURCE = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
KEY_USE = (
    "kms:CreateGrant and kms:RevokeGrant with kms:GrantIsForAWSResource (and, for existing revisions, "
    "kms:GenerateDataKey and kms:Decrypt). A key of this account whose policy lets IAM policies grant access "
    "(the default key policy) needs nothing more; a key of another account must name the roles in its key policy."
)


class KeyAccess:
    """The keys a provider's constructs export under; `role` is the handler's, `roles` what a warning calls the
    provider's roles."""

    def __init__(self, role: iam.IRole, roles: str) -> None:
        self._role, self._roles = role, roles
        self._granted: set[str] = set()
        self._imported: dict[kms.IKey, list[IConstruct]] = {}

    def allow(self, key: kms.IKey, construct: IConstruct) -> None:
        key_arn = key.key_arn
        if key_arn not in self._granted:
            self._granted.add(key_arn)
            self._role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant", "kms:RevokeGrant"],
                    resources=[key_arn],
                    conditions=GRANT_FOR_AWS_RESOURCE,
                )
            )
        if isinstance(key, kms.Key):
            return
        if key not in self._imported:
            constructs: list[IConstruct] = []
            self._imported[key] = constructs
            key_shown, roles = shown(key_arn, "<key-arn>"), self._roles
            warn_once(
                key,
                KEY_POLICY_WARNING_ID,
                constructs,
                lambda names: (
                    f"Key {key_shown} is imported, so its key policy cannot be changed here. It must let the "
                    f"roles of {roles} use it, or the event actions of {names} fail: {KEY_USE}"
                ),
            )
        self._imported[key].append(construct)
