"""What the handler's role may do in Data Exchange (and on the event bus): manage event actions, read a data set
whose name a key pattern uses, list a product's data sets and report its reconciles. Each added once."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

from . import _arns
from ._findings import acknowledge_wildcard
from ._function import allow_unscoped


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
            "ListEventActions finds the event actions a resource made, ListDataSets a product's data sets.",
        )
        self._data_sets: set[str] = set()
        self._stacks: set[str] = set()
        self._follows_products = False

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

    def allow_product_reconciles(self, stack: Stack) -> None:
        """What following a product of `stack` needs: listing the account's entitled data sets, reading what the
        stack deployed (a reconcile after the deploy), and reporting it on the default event bus."""
        self.allow_stack_reads(stack)
        if self._follows_products:
            return
        self._follows_products = True
        self._unscoped.add_statements(iam.PolicyStatement(actions=["dataexchange:ListDataSets"], resources=["*"]))
        self._role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[_arns.default_event_bus(self._stack)])
        )

    def allow_stack_reads(self, stack: Stack) -> None:
        """Reading what `stack` deployed: its resources' status and Metadata, and nothing of any other stack."""
        if stack.stack_name in self._stacks:
            return
        self._stacks.add(stack.stack_name)
        self._role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudformation:DescribeStackResource"], resources=[_arns.stack(stack)])
        )
        acknowledge_wildcard(
            self._role,
            _arns.stack(stack),
            "A stack's ARN ends in an id CloudFormation assigns when it creates the stack: the wildcard stands for "
            "that id of this one stack's name.",
        )

    def _allow(self, actions: list[str], resource: str, wildcard_reason: str) -> None:
        self._role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
        acknowledge_wildcard(self._role, resource, wildcard_reason)
