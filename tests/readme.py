"""The code blocks of README.md (and of the user documentation in docs/), as the tests that run them read them.

A block's info string says what it is: its language, then, for some, a label:

- ```` ```python ```` (no label): lines for a stack's `__init__` (`self` is the stack), which run alone, imports
  included: tests/test_readme.py synthesizes each, in a stack of its own (the README's and those in docs/).
- ```` ```python app ````: lines for the minimal app's `app.py`, right after `app = cdk.App()` (the cdk-nag wirings).
- ```` ```LANGUAGE FILE ````: a whole file (`app.py`, `cdk.json`, `requirements.txt` of the minimal app; a user's
  test file), which the test named in `FILES` runs.
- Anything else (bash, mermaid, a JSON fragment, text) is shown, not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tools.toolchain import REPO

README = REPO / "README.md"
# What a user reads: the README, and docs/ for what it leaves out.
USER_DOCUMENTS = (README, *sorted((REPO / "docs").glob("*.md")))
APP_SNIPPET = "app"
# Each whole file the README holds, by name, and the test that runs it.
FILES = {
    "app.py": "tests/test_packaging.py (the minimal app, from the wheel on the oldest aws-cdk-lib)",
    "cdk.json": "tests/test_packaging.py",
    "requirements.txt": "tests/test_packaging.py",
    "test_market_data.py": "tests/test_local_kit.py (the user's test of the local kit)",
}
_FENCE = re.compile(r"^```(\S*)(?: (\S+))?\s*$")


@dataclass(frozen=True)
class Block:
    language: str
    label: str | None
    heading: str  # the nearest heading above, without its #s
    line: int  # of the opening fence, from 1
    code: str
    document: str = "README.md"  # its path in the repository

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line} (under {self.heading!r})"


def blocks(path: Path = README) -> list[Block]:
    """Every fenced block at the start of a line (indented ones, inside lists, are fragments: shown, not run)."""
    found: list[Block] = []
    heading, opened, body = "", None, []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if opened is None:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            fence = _FENCE.match(line)
            if fence is not None and fence.group(1):
                opened, body = (fence.group(1), fence.group(2), number), []
        elif line == "```":
            language, label, start = opened
            document = str(path.relative_to(REPO))
            found.append(Block(language, label, heading, start, "\n".join(body) + "\n", document))
            opened = None
        else:
            body.append(line)
    assert opened is None, f"{path.name}:{opened[2]}: a code block is never closed"
    return found


def stack_examples() -> list[Block]:
    """The stack-body examples of every user document."""
    return [
        block
        for document in USER_DOCUMENTS
        for block in blocks(document)
        if block.language == "python" and block.label is None
    ]


def app_snippet(containing: str) -> Block:
    """The one `python app` block whose code contains `containing`."""
    (found,) = [b for b in blocks() if b.label == APP_SNIPPET and containing in b.code]
    return found


def file(name: str) -> str:
    """The text of the README's one whole file of that name."""
    (found,) = [block for block in blocks() if block.label == name]
    return found.code


def minimal_app(*lines: str) -> str:
    """The minimal app's app.py, with `lines` (an app snippet's code) after its `app = cdk.App()`."""
    app = file("app.py")
    marker = "app = cdk.App()\n"
    assert marker in app, "the minimal app makes no `app = cdk.App()`"
    return app.replace(marker, marker + "".join(lines))
