"""Shared test fixtures. Keep each section to what its tests need."""

from __future__ import annotations

import os

from offline.toolchain import QUIET_ENVIRONMENT

# ---------------------------------------------------------------------------------------------------
# CDK (test_construct_*.py, test_example_app.py, test_lifecycle.py)
# ---------------------------------------------------------------------------------------------------
# Set before anything imports aws_cdk: jsii prints a large Node end-of-life banner otherwise.
os.environ.update(QUIET_ENVIRONMENT)

from collections.abc import Callable, Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from botocore.retries.standard import ExponentialBackoff
from support import ThreeExports, build_three

from offline.endpoints import LocalDataExchange


@pytest.fixture(scope="session")
def new_cdk_app(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., cdk.App]:
    """Makes in-process CDK apps for unit tests, each with its own output directory.

    The built-in CloudFormation validation is off: it costs about 2 s the first time it runs in a
    process (BENCHMARKS.md) and proves nothing a template assertion does not. The example app's CLI
    synth (test_example_app.py) keeps it on.
    """

    def new_app(**kwargs: Any) -> cdk.App:
        kwargs.setdefault("outdir", str(tmp_path_factory.mktemp("cdk.out")))
        kwargs.setdefault("context", {"aws:cdk:disable-stack-trace": True})
        return cdk.App(builtin_cloud_formation_validation=False, **kwargs)

    return new_app


@pytest.fixture(scope="session")
def three(new_cdk_app: Callable[..., cdk.App]) -> ThreeExports:
    """Three constructs on one bucket, synthesized once for every test that only reads it."""
    return build_three(new_cdk_app)


# ---------------------------------------------------------------------------------------------------
# The local Data Exchange endpoint (test_dataexchange_endpoint.py, test_event_actions.py, test_lifecycle.py)
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def endpoint() -> Iterator[LocalDataExchange]:
    """A fresh endpoint on a free port of 127.0.0.1, no state file."""
    with LocalDataExchange() as local:
        yield local


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skips botocore's jittered sleep between standard-mode retries; whether and how often to retry
    stays botocore's own decision."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


# ---------------------------------------------------------------------------------------------------
# Real AWS (test_aws.py)
# ---------------------------------------------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps a plain `make test` offline even on a machine with credentials: `aws` tests deploy a real
    stack, so they run only when the marker expression asks for them (`-m aws`)."""
    expression = str(config.getoption("markexpr") or "")
    if "aws" in expression and "not aws" not in expression:
        return
    skip = pytest.mark.skip(reason="deploys to a real AWS account; opt in with: make test ARGS='-m aws'")
    for item in items:
        if "aws" in item.keywords:
            item.add_marker(skip)
