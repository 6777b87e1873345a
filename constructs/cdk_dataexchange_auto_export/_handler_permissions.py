"""What the handler's role may do in Data Exchange (and on the event bus, and in its stack): manage event actions,
read a data set whose name a key pattern uses, list a product's data sets and report its reconciles, check the
stack's event actions for drift, read what its stack deployed, and let Data Exchange revoke its grant on any key of
the account. Each added once."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

from . import _arns
from ._findings import acknowledge_wildcard
from ._function import allow_unscoped
from ._key_access import GRANT_FOR_AWS_RESOURCE


class HandlerPermissions:
    def __init__(self, role: iam.Role) -> None:
        self._role = role
        self._stack = Stack.of(role)
        self.event_actions = _arns.event_actions(self._stack)
        self._allow(
            [
                "dataexchange:CreateEventAction",
                "dataexchange:GetEventAction",
                "dataexchange:UpdateEventAction",
                "dataexchange:DeleteEventAction",
                "dataexchange:TagResource",
                "dataexchange:UntagResource",
            ],
            self.event_actions,
            "Event action ids are assigned by the service at creation, so the role cannot name them in advance; "
            "the wildcard is limited to event actions of this stack's account and region.",
        )
        self._unscoped = allow_unscoped(
            role,
            ["dataexchange:ListEventActions"],
            "The list actions of this policy support no resource-level permissions, and only read: "
            "ListEventActions finds the event actions a resource made, ListDataSets the entitled data sets (a "
            "product's, and those the drift check expects).",
        )
        # Not tied to any construct's key: a construct removed from a stack that keeps others is deleted in the
        # update's cleanup phase, after CloudFormation updated this policy without its key's statement, and Data
        # Exchange revokes the event action's grant on that key as the caller. Revoking only, and only a grant an
        # AWS service made for itself (kms:GrantIsForAWSResource), on keys of this account and Region.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:RevokeGrant"], resources=[_arns.keys(self._stack)], conditions=GRANT_FOR_AWS_RESOURCE
            )
        )
        acknowledge_wildcard(
            role,
            _arns.keys(self._stack),
            "A construct's Delete in the cleanup phase of an update runs after its key's statement left the policy: "
            "Data Exchange then revokes its grant as the caller. Only kms:RevokeGrant, only of grants an AWS service "
            "made (kms:GrantIsForAWSResource), only on keys of this account and Region.",
        )
        self._data_sets: set[str] = set()
        self._stacks: dict[str, iam.PolicyStatement] = {}
        self._lists_data_sets = False
        self._reports = False

    def allow_data_set_name_lookup(self, data_set_id: str) -> None:
        """A key pattern with ${DataSet.Name} makes the service read the data set as the caller (`*`: any data set,
        for a product's)."""
        if data_set_id in self._data_sets:
            return
        self._data_sets.add(data_set_id)
        which = (
            "a product's data sets are known only when the handler lists them"
            if data_set_id == "*"
            else "the statement names the one data set"
        )
        self._allow(
            ["dataexchange:GetDataSet"],
            _arns.data_set(self._stack, data_set_id),
            f"An entitled data set belongs to its provider's account, which the subscriber cannot name; {which}; "
            "it allows only dataexchange:GetDataSet.",
        )

    def allow_stack_reads(self, stack: Stack) -> None:
        """Reading what `stack` deployed: its resources' status and Metadata, and nothing of any other stack. Every
        request of CloudFormation's reads its resource's status (whether CloudFormation still waits for it)."""
        self._allow_stack_reads(stack, "cloudformation:DescribeStackResource")

    def allow_product_reconciles(self, stack: Stack) -> None:
        """What following a product of `stack` needs: listing the account's entitled data sets, reading what the
        stack deployed (a reconcile after the deploy), and reporting it on the default event bus."""
        self.allow_stack_reads(stack)
        self._allow_entitlement_reads()
        self._allow_reports()

    def allow_drift_check(self, stack: Stack) -> None:
        """What the drift check of `stack` needs besides reading event actions: its resources and what each deployed,
        the account's entitled data sets, and reporting on the default event bus. Read only, one stack."""
        self._allow_stack_reads(stack, "cloudformation:ListStackResources", "cloudformation:DescribeStackResource")
        self._allow_entitlement_reads()
        self._allow_reports()

    def _allow_stack_reads(self, stack: Stack, *actions: str) -> None:
        """Reading `stack`: its resources' status and Metadata, and nothing of any other stack. One statement per
        stack, which gains the actions asked for."""
        statement = self._stacks.get(stack.stack_name)
        if statement is None:
            statement = iam.PolicyStatement(resources=[_arns.stack(stack)])
            self._stacks[stack.stack_name] = statement
            self._role.add_to_principal_policy(statement)
            acknowledge_wildcard(
                self._role,
                _arns.stack(stack),
                "A stack's ARN ends in an id CloudFormation assigns when it creates the stack: the wildcard stands "
                "for that id of this one stack's name.",
            )
        statement.add_actions(*(action for action in actions if action not in statement.actions))

    def _allow_entitlement_reads(self) -> None:
        if not self._lists_data_sets:
            self._lists_data_sets = True
            self._unscoped.add_statements(iam.PolicyStatement(actions=["dataexchange:ListDataSets"], resources=["*"]))

    def _allow_reports(self) -> None:
        if not self._reports:
            self._reports = True
            self._role.add_to_principal_policy(
                iam.PolicyStatement(actions=["events:PutEvents"], resources=[_arns.default_event_bus(self._stack)])
            )

    def _allow(self, actions: list[str], resource: str, wildcard_reason: str) -> None:
        self._role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
        acknowledge_wildcard(self._role, resource, wildcard_reason)
