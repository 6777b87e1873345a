"""The package's version is written once, is semantic, and is the one its CHANGELOG calls for: a major version for a
**Breaking** change, a minor one for an addition, a patch otherwise. (tests/test_packaging.py builds the release
with it; tests/test_readme.py holds the minimal app's requirement to its major version.)"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date

from cdk_dataexchange_auto_export import __version__
from tools.toolchain import REPO

CHANGELOG = REPO / "CHANGELOG.md"
SECTIONS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
UNRELEASED = "Unreleased"
SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass
class Release:
    version: str  # or UNRELEASED
    released: date | None
    entries: dict[str, list[str]] = field(default_factory=dict)  # section -> its entries' first lines


def releases() -> list[Release]:
    found: list[Release] = []
    section = None
    for line in CHANGELOG.read_text().splitlines():
        heading = re.fullmatch(r"## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?", line)
        if heading is not None:
            version, released = heading.groups()
            found.append(Release(version, date.fromisoformat(released) if released else None))
            section = None
        elif line.startswith("### "):
            section = line.removeprefix("### ")
            assert found and section in SECTIONS, f"CHANGELOG.md: {line!r} is not a section of a release"
            found[-1].entries[section] = []
        elif line.startswith("- "):
            assert found and section is not None, f"CHANGELOG.md: {line!r} is under no section"
            found[-1].entries[section].append(line)
    return found


def semver(version: str) -> tuple[int, int, int]:
    matched = SEMVER.fullmatch(version)
    assert matched is not None, f"{version!r} is not a semantic version"
    major, minor, patch = map(int, matched.groups())
    return major, minor, patch


def test_the_changelog_is_in_keep_a_changelog_form() -> None:
    found = releases()
    released = [release for release in found if release.version != UNRELEASED]
    # [Unreleased] first if at all, then the releases, newest first, each dated, each with what it changed
    assert [release.version for release in found].count(UNRELEASED) <= 1
    assert UNRELEASED not in [release.version for release in found[1:]]
    assert released, "no release: 1.0.0 at least"
    assert all(release.released is not None and release.entries for release in released)
    assert [semver(r.version) for r in released] == sorted((semver(r.version) for r in released), reverse=True)
    assert [r.released for r in released] == sorted((r.released for r in released if r.released), reverse=True)


def next_version(last: str, unreleased: Release | None) -> str:
    """The version semantic versioning gives the unreleased changes after `last`."""
    major, minor, patch = semver(last)
    entries = [entry for section in (unreleased.entries.values() if unreleased else []) for entry in section]
    if not entries:
        return last
    if any(entry.startswith("- **Breaking:**") for entry in entries):
        return f"{major + 1}.0.0"
    if unreleased is not None and unreleased.entries.get("Added"):
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def test_the_version_is_the_one_the_changes_since_the_last_release_call_for() -> None:
    found = releases()
    unreleased = found[0] if found[0].version == UNRELEASED else None
    last = next(release.version for release in found if release.version != UNRELEASED)
    assert __version__ == next_version(last, unreleased)


def test_the_bump_follows_the_kind_of_change() -> None:
    def with_entries(**sections: list[str]) -> Release:
        return Release(UNRELEASED, None, dict(sections))

    assert next_version("1.4.2", None) == "1.4.2"
    assert next_version("1.4.2", with_entries(Fixed=["- a fix"])) == "1.4.3"
    assert next_version("1.4.2", with_entries(Added=["- a prop"], Fixed=["- a fix"])) == "1.5.0"
    assert next_version("1.4.2", with_entries(Added=["- a prop"], Changed=["- **Breaking:** a rename"])) == "2.0.0"


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cdk_dataexchange_auto_export.__version__"}
    written = [
        path.relative_to(REPO).as_posix()
        for root in ("constructs", "lambda", "tools")
        for path in (REPO / root).rglob("*.py")
        if "lambda_asset" not in path.parts and re.search(r"__version__\s*=", path.read_text())
    ]
    assert written == ["constructs/cdk_dataexchange_auto_export/__init__.py"]
