"""Synth warnings that name every construct concerned, once."""

from __future__ import annotations

from collections.abc import Callable

import jsii
from aws_cdk import Annotations, Aspects, IAspect, Token
from constructs import IConstruct


def shown(value: str, placeholder: str) -> str:
    """A value for a message: itself, or a placeholder while it is known only at deploy time."""
    return placeholder if Token.is_unresolved(value) else value


def warn_once(scope: IConstruct, warning_id: str, constructs: list[IConstruct], message: Callable[[str], str]) -> None:
    """A warning on `scope` that names the path of every construct in `constructs`, added once they are all there
    (at synth, when aspects run)."""
    Aspects.of(scope).add(_Warning(scope, warning_id, constructs, message))


@jsii.implements(IAspect)
class _Warning:
    def __init__(
        self, scope: IConstruct, warning_id: str, constructs: list[IConstruct], message: Callable[[str], str]
    ) -> None:
        self._scope, self._id, self._constructs, self._message = scope, warning_id, constructs, message
        self._warned = False

    def visit(self, node: IConstruct) -> None:
        if self._warned:
            return
        self._warned = True
        paths = ", ".join(construct.node.path for construct in self._constructs)
        Annotations.of(self._scope).add_warning_v2(self._id, self._message(paths))
