"""`make demo` sets up only what the demo runs; `make test` sets up everything the suite needs. Read from make's own
plan (`make -n -B`: every command it would run, forced, none run)."""

from __future__ import annotations

import subprocess

import pytest

from tools.toolchain import REPO

# What each environment's build runs, as the Makefile spells it.
DEMO_BUILDS = {
    "the package and its local kit, in the dev venv": '-e ".[local]"',
    "the handler's asset": "-m tools.asset",
    "the pinned Lambda-like venv": "lambda-venvs pinned",
}
TEST_ONLY_BUILDS = {
    "the rest of the dev venv": "-r requirements-dev.txt",
    "the old-boto3 Lambda-like venv": "lambda-venvs boto3-1.34",
    "checkov": "-r requirements-checkov.txt",
    "cdk-nag 2": "-r requirements-cdk-nag2.txt",
    "the oldest aws-cdk-lib": "-r requirements-cdk-lowest.txt",
    "the CDK CLI": "npm ci",
}


def planned(target: str) -> str:
    result = subprocess.run(
        ["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("target", "builds", "skips"),
    [("demo", DEMO_BUILDS, TEST_ONLY_BUILDS), ("test", {**DEMO_BUILDS, **TEST_ONLY_BUILDS}, {})],
)
def test_each_command_sets_up_what_it_runs_and_nothing_more(
    target: str, builds: dict[str, str], skips: dict[str, str]
) -> None:
    plan = planned(target)
    assert [name for name, command in builds.items() if command not in plan] == []
    assert [name for name, command in skips.items() if command in plan] == []
