"""Shared test fixtures. Keep each section to what its tests need."""

from __future__ import annotations

import os

from tools.toolchain import QUIET_ENVIRONMENT

# ---------------------------------------------------------------------------------------------------
# CDK (test_construct_*.py, test_example_app.py, test_lifecycle.py)
# ---------------------------------------------------------------------------------------------------
# Set before anything imports aws_cdk: jsii prints a large Node end-of-life banner otherwise.
os.environ.update(QUIET_ENVIRONMENT)

import inspect
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from botocore.retries.standard import ExponentialBackoff
from support import ALERT_EMAIL, DATA_SET, AuditedRuntime, CliSynth, Runner, ThreeExports, build_three, cdk_synth

from app import STACK_NAME
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.aws import OfflineAws
from cdk_dataexchange_auto_export.local.cloudformation import OfflineCloudFormation
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint
from cdk_dataexchange_auto_export.local.iam import PermissionAudit
from tools.toolchain import LAMBDA_VENVS

# The built-in validation came with aws-cdk-lib 2.275.0: the construct tests' run on the oldest supported
# release (requirements-cdk-lowest.txt) has none to turn off.
_NO_BUILTIN_VALIDATION = (
    {"builtin_cloud_formation_validation": False}
    if "builtin_cloud_formation_validation" in inspect.signature(cdk.App.__init__).parameters
    else {}
)


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
        return cdk.App(**_NO_BUILTIN_VALIDATION, **kwargs)

    return new_app


@pytest.fixture(scope="session")
def example_synth(tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    """The example app as `make demo` deploys it (its own bucket, an alert topic), synthesized once by the
    real CDK CLI for every test that reads it."""
    return cdk_synth(tmp_path_factory.mktemp("example") / "cdk.out", dataSetId=DATA_SET, alertEmail=ALERT_EMAIL)


@pytest.fixture(scope="session")
def three(new_cdk_app: Callable[..., cdk.App]) -> ThreeExports:
    """Three constructs on one bucket, synthesized once for every test that only reads it."""
    return build_three(new_cdk_app)


# ---------------------------------------------------------------------------------------------------
# The local Data Exchange endpoint (test_dataexchange_endpoint.py, test_event_actions.py, test_lifecycle.py)
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[DataExchangeEndpoint]:
    """A fresh endpoint on a free port of 127.0.0.1, no state file. Parametrize it indirectly with keyword
    arguments of DataExchangeEndpoint, such as how it answers an Action: {"answers": "defaults left out"}."""
    with DataExchangeEndpoint(**getattr(request, "param", {})) as local:
        yield local


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skips botocore's jittered sleep between standard-mode retries; whether and how often to retry
    stays botocore's own decision."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


# ---------------------------------------------------------------------------------------------------
# The Lambda-like runtimes and the permission audit (test_lifecycle.py, test_backfill_lifecycle.py)
# ---------------------------------------------------------------------------------------------------
def _describe(python: str) -> str:
    script = "import sys, boto3, botocore; print(sys.version.split()[0], boto3.__version__, botocore.__version__)"
    result = subprocess.run([python, "-I", "-c", script], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return "missing: run `make setup`"
    python_version, boto3_version, botocore_version = result.stdout.split()
    return f"Python {python_version}, boto3 {boto3_version}, botocore {botocore_version}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Which aws-cdk-lib the construct tests synthesize with (make test runs them on two), and which
    Lambda-like runtimes the lifecycle tests run on (the function itself runs on python3.14)."""
    return [
        f"aws-cdk-lib {version('aws-cdk-lib')}, constructs {version('constructs')}",
        *(
            f"lambda-like runtime {name}: {_describe(str(venv / 'bin' / 'python'))}"
            for name, (venv, _) in LAMBDA_VENVS.items()
        ),
    ]


@pytest.fixture
def permission_audit() -> PermissionAudit:
    """The calls the functions made in one test, against their roles."""
    return PermissionAudit()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that runs functions runs them on the pinned runtime; one marked `every_runtime` (those that make
    every kind of call the functions make, or lean on botocore's retries) on the oldest boto3 too."""
    if "lambda_python" in metafunc.fixturenames:
        every = metafunc.definition.get_closest_marker("every_runtime") is not None
        runtimes = list(LAMBDA_VENVS) if every else ["pinned"]
        metafunc.parametrize("lambda_python", runtimes, indirect=True, scope="module")


@pytest.fixture(scope="module")
def lambda_python(request: pytest.FixtureRequest) -> Path:
    """The Lambda-like runtime a test's functions run on (`pytest_generate_tests` says which)."""
    python = LAMBDA_VENVS[request.param][0] / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make setup` (the README's test command does)")
    return python


@pytest.fixture(scope="session")
def example_app(example_synth: CliSynth) -> SynthesizedStack:
    """The example app as `cdk deploy` would see it."""
    assert example_synth.returncode == 0, example_synth.output
    return SynthesizedStack(example_synth.outdir, STACK_NAME)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "stack.json"


@pytest.fixture
def aws(endpoint: DataExchangeEndpoint) -> Iterator[OfflineAws]:
    """The offline account's services around the test's Data Exchange endpoint."""
    with OfflineAws(dataexchange=endpoint) as services:
        yield services


@pytest.fixture
def cloudformation(
    aws: OfflineAws, state_file: Path, lambda_python: Path, permission_audit: PermissionAudit
) -> Iterator[Runner]:
    """Makes runners whose functions call the test's services; one stack (state file) unless told otherwise,
    and a function's timeout shortened by logical id. Afterwards, every call a function made must have
    been allowed by its role."""
    with ExitStack() as runners:

        def runner(
            stack: SynthesizedStack,
            *,
            state: Path = state_file,
            timeouts: dict[str, int] | None = None,
            **parameters: str,
        ) -> OfflineCloudFormation:
            runtime = AuditedRuntime(lambda_python, aws, permission_audit, timeouts)
            runtime.cloudformation = runners.enter_context(aws.cloudformation(stack, state, runtime, parameters))
            return runtime.cloudformation

        yield runner
        aws.lambda_.wait()
    assert permission_audit.denied == [], "the role does not allow calls the functions made"


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
