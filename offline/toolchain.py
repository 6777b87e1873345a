"""How this repository runs its tools: the pinned CDK CLI, quiet and offline, and the Lambda-like Python.

Everything that starts `npx cdk` (the offline lifecycle, the benchmarks, the tests, `make synth`)
goes through here, so the environment that keeps the CLI and jsii quiet is written once.
`python -m offline.toolchain ARGS...` runs `cdk ARGS...` that way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# An environment holding only boto3, like the Lambda runtime (the Makefile builds it).
LAMBDA_PYTHON = REPO / ".venv-lambda" / "bin" / "python"

QUIET_ENVIRONMENT: Mapping[str, str] = {
    # jsii prints a large Node end-of-life banner on every import otherwise.
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_DISABLE_CLI_TELEMETRY": "1",
}


def cdk_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) made quiet, with this interpreter's venv first on
    PATH: cdk.json's `python3 app.py` must find the packages the app imports."""
    environment = dict(os.environ if base is None else base)
    environment.update(QUIET_ENVIRONMENT)
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    return environment


def cdk_command(*arguments: str) -> list[str]:
    # --no-install: the CLI pinned in package.json, never a download (the npm package "cdk" is not the AWS CDK).
    return ["npx", "--no-install", "cdk", *arguments]


def context_arguments(context: Mapping[str, str]) -> list[str]:
    return [argument for key, value in context.items() for argument in ("--context", f"{key}={value}")]


def cdk_synth(out_dir: Path, context: Mapping[str, str], *, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`cdk synth --quiet --output OUT_DIR` of the app in `cwd`, output captured."""
    command = cdk_command("synth", "--quiet", "--output", str(out_dir), *context_arguments(context))
    return subprocess.run(command, cwd=cwd, env=cdk_environment(), capture_output=True, text=True, check=False)


def main(arguments: Sequence[str] | None = None) -> int:
    command = cdk_command(*(sys.argv[1:] if arguments is None else arguments))
    return subprocess.run(command, cwd=REPO, env=cdk_environment(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
