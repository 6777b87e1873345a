"""Which revisions, published before the event action existed, an AutoExportEventAction exports too."""

from __future__ import annotations

from typing import ClassVar

from aws_cdk import Token

from dataexchange_auto_export_handler.contract import ALL_REVISIONS, MAX_REVISIONS


class ExistingRevisions:
    """An event action exports only revisions published after it exists; these say which earlier ones to
    export as well, once, by export jobs in the background.

    ``ExistingRevisions.NONE`` (the default), ``ExistingRevisions.ALL``, or ``ExistingRevisions.latest(n)``.
    """

    NONE: ClassVar[ExistingRevisions]
    ALL: ClassVar[ExistingRevisions]

    def __init__(self, value: str | None) -> None:
        self._value = value

    @classmethod
    def latest(cls, count: int | float) -> ExistingRevisions:
        """The newest ``count`` revisions, 1 to 10,000 (a data set's most). A token (a ``CfnParameter``'s
        ``value_as_number``) is checked when the stack deploys."""
        if Token.is_unresolved(count):
            return cls(Token.as_string(count))
        if not float(count).is_integer() or not 1 <= count <= MAX_REVISIONS:
            raise ValueError(f"ExistingRevisions.latest({count!r}): expected a whole number from 1 to {MAX_REVISIONS}")
        return cls(str(int(count)))

    @property
    def value(self) -> str | None:
        """What the custom resource is told: ALL, the number, or None for none."""
        return self._value

    def __repr__(self) -> str:
        return f"ExistingRevisions({self._value or 'NONE'})"


ExistingRevisions.NONE = ExistingRevisions(None)
ExistingRevisions.ALL = ExistingRevisions(ALL_REVISIONS)
