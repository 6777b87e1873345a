"""Every link between the project's documents lands: the file exists and, for a `#fragment`, the heading does, as
GitHub names its anchors. Moving a section from one document to another breaks the links to it; this says which."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.toolchain import REPO

DOCUMENTS = [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def outside_code(text: str) -> str:
    """The text without its fenced code blocks and code spans (a `](x)` there is code, not a link)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    return {anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_anchors_are_named_as_github_names_them() -> None:
    assert anchor("What `cdk destroy` leaves") == "what-cdk-destroy-leaves"
    assert anchor("How long a history takes, and what it costs") == "how-long-a-history-takes-and-what-it-costs"
    assert anchor("Drift: event actions changed outside the stack") == "drift-event-actions-changed-outside-the-stack"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_link_to_another_document_or_heading_lands(document: Path) -> None:
    broken = []
    for target in _LINK.findall(outside_code(document.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file_part, _, fragment = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{target}: no heading #{fragment} in {path.relative_to(REPO)}")
    assert broken == []
