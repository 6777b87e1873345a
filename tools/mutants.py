"""`python -m tools.mutants [lambda] [constructs] [--rev REV] [--only FILE ...] [--max-children N]` (`make mutants`).

Mutation testing with mutmut, one source file at a time against only the fast test modules that guard it
(`GROUPS`): a mutant that no test notices is a change of behaviour the tests would let through. Not part
of `make test` or CI: it takes minutes (README, "Mutation testing").

Each file runs in a scratch copy under `.mutants/`, taken from the work tree or from `--rev`, with the
file's package moved to the copy's root: mutmut names mutants by file path and only finds mutated code
imported by that name from the root, while the repository imports from the `lambda/` and `constructs/`
source roots. Survivors listed in `tools/equivalent_mutants.toml`, each with the reason it cannot change
behaviour, count as equivalent; any other survivor is printed with its diff and fails the run.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.toolchain import REPO, cdk_environment

SCRATCH = REPO / ".mutants"
EQUIVALENT = Path(__file__).with_name("equivalent_mutants.toml")
_RESULT = re.compile(r"^\s+(\S+): (.+)$")
# What no test noticed: a mutant the tests ran and passed, and one in code no selected test runs.
_UNNOTICED = ("survived", "no tests")


@dataclass(frozen=True)
class Group:
    """A source root's package and, per module of it, the fast test modules that guard it."""

    root: str
    package: str
    tests: Mapping[str, tuple[str, ...]]


GROUPS: Mapping[str, Group] = {
    # index.py, worker.py, the *_resource.py modules, clients.py and api_model.py are Lambda glue: only the
    # lifecycle tests run them, in a `python -I` process of the staged asset, where mutmut's trampolines cannot
    # be imported.
    "lambda": Group(
        "lambda",
        "dataexchange_auto_export_handler",
        {
            "rules.py": ("tests/test_properties.py", "tests/test_rules_agree.py", "tests/test_products.py"),
            "export_settings.py": ("tests/test_properties.py", "tests/test_event_actions.py", "tests/test_backfill.py"),
            "properties.py": ("tests/test_properties.py", "tests/test_products.py", "tests/test_event_actions.py"),
            "event_actions.py": ("tests/test_event_actions.py", "tests/test_handler_around_aws.py"),
            "products.py": ("tests/test_products.py",),
            "stack.py": ("tests/test_handler_around_aws.py",),
            "propagation.py": ("tests/test_handler_around_aws.py",),
            "backfill.py": ("tests/test_backfill.py",),
        },
    ),
    "constructs": Group(
        "constructs",
        "cdk_dataexchange_auto_export",
        {
            "auto_export_event_action.py": (
                "tests/test_construct_template.py",
                "tests/test_construct_validation.py",
                "tests/test_construct_backfill.py",
                "tests/test_construct_citizenship.py",
            ),
            "auto_export_product.py": ("tests/test_construct_product.py",),
            "_export_construct.py": (
                "tests/test_construct_template.py",
                "tests/test_construct_validation.py",
                "tests/test_construct_monitoring.py",
                "tests/test_construct_citizenship.py",
            ),
            "provider.py": (
                "tests/test_construct_template.py",
                "tests/test_construct_nag.py",
                "tests/test_construct_citizenship.py",
            ),
            "_function.py": (
                "tests/test_construct_template.py",
                "tests/test_construct_asset.py",
                "tests/test_construct_citizenship.py",
            ),
            "_asset.py": ("tests/test_construct_asset.py",),
            "_bucket_access.py": ("tests/test_construct_template.py", "tests/test_construct_citizenship.py"),
            "_key_access.py": ("tests/test_construct_template.py", "tests/test_construct_citizenship.py"),
            "_handler_permissions.py": ("tests/test_construct_template.py", "tests/test_construct_product.py"),
            "_findings.py": ("tests/test_construct_nag.py", "tests/test_construct_citizenship.py"),
            "backfill_worker.py": ("tests/test_construct_backfill.py", "tests/test_construct_citizenship.py"),
            "existing_revisions.py": ("tests/test_construct_backfill.py",),
            "monitoring.py": ("tests/test_construct_monitoring.py", "tests/test_construct_product.py"),
        },
    ),
}


@dataclass(frozen=True)
class FileResult:
    group: str
    module: str
    statuses: dict[str, str]  # mutant name -> mutmut's status
    equivalent: dict[str, str]  # surviving mutant name -> why it cannot change behaviour
    diffs: dict[str, str]  # unexplained survivor -> its diff
    seconds: float

    @property
    def unexplained(self) -> list[str]:
        return [name for name, status in self.statuses.items() if status in _UNNOTICED and name not in self.equivalent]


def _tree(rev: str | None, destination: Path) -> None:
    """The repository's files at `rev`, or as they are in the work tree (untracked, unignored files too)."""
    if rev is not None:
        archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(destination, filter="data")
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _prepare(group: Group, module: str, rev: str | None, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    _tree(rev, work)
    shutil.move(work / group.root / group.package, work / group.package)
    other_root = next(name for name in ("lambda", "constructs") if name != group.root)
    config = {
        "source_paths": [group.package],
        # What the tests import besides the package (mutmut runs them in a copy of its own, `mutants/`).
        "also_copy": sorted(path.name for path in work.iterdir() if path.name != group.package),
        "only_mutate": [f"{group.package}/{module}"],
        # Log lines are for people reading the logs; what tests hold is the outcome (calls, events, cursor).
        "do_not_mutate_patterns": [r"^\s*logger\.(debug|info|warning|error)\("],
        # One process per mutant is mutmut's own parallelism; the package now sits at the root (".").
        "pytest_add_cli_args": ["-n", "0", "-o", f"pythonpath={other_root} ."],
        "pytest_add_cli_args_test_selection": list(group.tests[module]),
    }
    # What `make setup` builds and some fast tests use (the Lambda-like venvs, the CDK CLI), shared, not copied.
    (work / "mutants").mkdir()
    for built in (".venv-lambda", ".venv-lambda-boto3-1.34", "node_modules"):
        if (REPO / built).exists():
            (work / "mutants" / built).symlink_to(REPO / built)
    lines = ["", "[tool.mutmut]", *(f"{key} = {_toml(value)}" for key, value in config.items())]
    with (work / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write("\n".join(lines) + "\n")


def _toml(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mutmut(work: Path, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mutmut", *arguments],
        cwd=work,
        env=cdk_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mutmut {' '.join(arguments)} failed in {work}:\n{result.stdout}{result.stderr}")
    return result.stdout


def run_file(
    group: Group, module: str, rev: str | None, max_children: int, equivalent: Mapping[str, str]
) -> FileResult:
    work = SCRATCH / group.root / (rev or "work-tree") / Path(module).stem
    _prepare(group, module, rev, work)
    started = time.monotonic()
    _mutmut(work, "run", "--max-children", str(max_children))
    seconds = time.monotonic() - started
    statuses = {
        match.group(1): match.group(2)
        for line in _mutmut(work, "results", "--all", "true").splitlines()
        if (match := _RESULT.match(line))
    }
    explained = {
        name: equivalent[name] for name, status in statuses.items() if status in _UNNOTICED and name in equivalent
    }
    result = FileResult(group.root, module, statuses, explained, {}, seconds)
    result.diffs.update({name: _mutmut(work, "show", name) for name in result.unexplained})
    return result


def report(results: Sequence[FileResult]) -> str:
    lines = []
    totals: Counter[str] = Counter()
    for result in results:
        counts = Counter(result.statuses.values())
        for name in result.equivalent:
            counts[result.statuses[name]] -= 1
            counts["equivalent"] += 1
        totals.update(counts)
        lines.append(f"{result.group}/{result.module}: {_counts(counts)} in {result.seconds:.0f} s")
    lines.append(f"total: {_counts(totals)} in {sum(result.seconds for result in results):.0f} s")
    for result in results:
        lines += [f"\n--- survived: {name}\n{result.diffs[name]}" for name in result.unexplained]
    return "\n".join(lines)


def _counts(counts: Counter[str]) -> str:
    mutants = sum(counts.values())
    order = ["killed", "survived", "equivalent", *sorted(set(counts) - {"killed", "survived", "equivalent"})]
    return f"{mutants} mutants: " + ", ".join(f"{counts[status]} {status}" for status in order if counts[status])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"{' and/or '.join(GROUPS)} (default: both)")
    parser.add_argument("--rev", help="mutate the files as they are at this git revision (default: the work tree)")
    parser.add_argument("--only", nargs="+", metavar="FILE", help="these modules of the groups only")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default: %(default)s)")
    args = parser.parse_args(argv)
    args.groups = args.groups or list(GROUPS)
    if not set(args.groups) <= set(GROUPS):
        parser.error(f"unknown group in {', '.join(args.groups)}: expected {' or '.join(GROUPS)}")
    equivalent = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8"))
    runs = [(GROUPS[name], module) for name in args.groups for module in GROUPS[name].tests]
    if args.only:
        unknown = sorted(set(args.only) - {module for _, module in runs})
        if unknown:
            parser.error(f"no fast tests are mapped for {', '.join(unknown)} in {', '.join(args.groups)}")
        runs = [(group, module) for group, module in runs if module in args.only]
    results = []
    for group, module in runs:
        results.append(run_file(group, module, args.rev, args.max_children, equivalent.get(group.package, {})))
        print(report(results[-1:]).splitlines()[0], flush=True)
    print(report(results))
    return 1 if any(result.unexplained for result in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
