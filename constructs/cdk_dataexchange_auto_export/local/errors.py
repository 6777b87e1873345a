"""The kit's one kind of error: something the user can act on, said in one line."""

from __future__ import annotations


class LocalError(Exception):
    """A problem with the app, the stack, the command or the state folder: `dataexchange-local` prints it as one
    line and exits non-zero; a test of the user's can expect it."""
