"""The machine and toolchain the figures were measured on."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from . import LAMBDA_PYTHON, REPO
from .synth import synth_environment

PACKAGES = ("aws-cdk-lib", "constructs", "jsii", "boto3", "botocore", "crhelper")


@dataclass(frozen=True)
class Machine:
    date: str
    cpu_count: int
    cpu_model: str
    load_average: str
    system: str
    python: str
    lambda_python: str
    node: str
    cdk_cli: str
    packages: dict[str, str]

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("Date (UTC)", self.date),
            ("CPUs", str(self.cpu_count)),
            ("CPU model", self.cpu_model),
            ("Load average at start (1, 5, 15 min)", self.load_average),
            ("System", self.system),
            ("Python (synth)", self.python),
            ("Python (Lambda-like, .venv-lambda)", self.lambda_python),
            ("Node", self.node),
            ("CDK CLI", self.cdk_cli),
            *((name, version) for name, version in self.packages.items()),
        ]


def describe_machine() -> Machine:
    return Machine(
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        cpu_count=os.cpu_count() or 0,
        cpu_model=_cpu_model(),
        load_average=", ".join(f"{load:.2f}" for load in os.getloadavg()),
        system=platform.platform(),
        python=sys.version.split()[0],
        lambda_python=_output([str(LAMBDA_PYTHON), "--version"]).removeprefix("Python "),
        node=_output(["node", "--version"]),
        # --no-install: the pinned CLI from package.json, never a download.
        cdk_cli=_output(["npx", "--no-install", "cdk", "--version"]),
        packages={name: _version(name) for name in PACKAGES}
        | {"boto3 (.venv-lambda)": _output([str(LAMBDA_PYTHON), "-I", "-c", "import boto3; print(boto3.__version__)"])},
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _output(command: list[str]) -> str:
    try:
        result = subprocess.run(
            command, cwd=REPO, env=synth_environment(), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error})"
    lines = result.stdout.strip().splitlines()
    return lines[0] if result.returncode == 0 and lines else "unavailable"
