"""How this repository runs its tools: the pinned CDK CLI, quiet and offline, and the Lambda-like Pythons.

Everything that starts `npx cdk` (the benchmarks, the tests, `make synth`) or the local kit on the example app
(`make demo`) goes through here, so the environment that keeps the CLI and jsii quiet is written once.
`python -m tools.toolchain ARGS...` runs `cdk ARGS...` that way, `python -m tools.toolchain local ARGS...` the kit's
`dataexchange-local ARGS...`. Standard library only: the Makefile runs
`python3 -m tools.toolchain lambda-venvs [NAME...]` before any venv exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Environments holding only boto3, like the Lambda runtime: the pinned SDK, and an old one a runtime may
# still carry. Name -> (venv, requirements file); `lambda-venvs` builds them.
LAMBDA_VENVS: Mapping[str, tuple[Path, Path]] = {
    "pinned": (REPO / ".venv-lambda", REPO / "requirements-lambda.txt"),
    "boto3-1.34": (REPO / ".venv-lambda-boto3-1.34", REPO / "requirements-lambda-boto3-1.34.txt"),
}
LAMBDA_PYTHON = LAMBDA_VENVS["pinned"][0] / "bin" / "python"
# checkov in a venv of its own (`make setup` builds it from requirements-checkov.txt): its pins clash with the
# dev venv's.
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
# The function's runtime is python3.14; the venvs take the newest of these the machine has.
_LAMBDA_BASE_VERSIONS = ("3.14", "3.13", "3.12")

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
    # This checkout's construct and handler, whichever checkout the venv's editable install names (a worktree
    # shares its venv with the main checkout).
    sources = [str(REPO / "constructs"), str(REPO / "lambda")]
    environment["PYTHONPATH"] = os.pathsep.join([*sources, *filter(None, [environment.get("PYTHONPATH")])])
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


def lambda_base_python() -> str:
    """The newest Python of `_LAMBDA_BASE_VERSIONS` that runs here (on PATH or installed by pyenv),
    else this interpreter: the closest the machine has to the function's runtime."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in _LAMBDA_BASE_VERSIONS:
        on_path = shutil.which(f"python{version}")
        candidates = [*filter(None, [on_path]), *map(str, sorted(pyenv_root.glob(f"versions/{version}.*/bin/python3")))]
        for candidate in candidates:
            # pyenv's shims are on PATH even for versions it would refuse to run: ask each one.
            probe = [candidate, "-c", "import sys, venv"]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return candidate
    return sys.executable


def build_lambda_venvs(names: Sequence[str]) -> None:
    base = lambda_base_python()
    for name in names:
        venv, requirements = LAMBDA_VENVS[name]
        print(f"{venv.name}: {name} boto3 on {base}", flush=True)
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(requirements)], check=True)
        (venv / ".installed").touch()


def local_command(*arguments: str) -> list[str]:
    """The local kit's command line (`dataexchange-local`), its functions run in the boto3-only Lambda-like Python,
    which proves the asset carries everything else the handler needs."""
    kit = [sys.executable, "-m", "cdk_dataexchange_auto_export.local", *arguments]
    return [*kit, "--lambda-python", str(LAMBDA_PYTHON)] if arguments else kit


def main(arguments: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if arguments is None else arguments)
    if arguments[:1] == ["lambda-venvs"]:
        # `make demo` needs only the pinned one; `make test` both.
        build_lambda_venvs(arguments[1:] or list(LAMBDA_VENVS))
        return 0
    command = local_command(*arguments[1:]) if arguments[:1] == ["local"] else cdk_command(*arguments)
    return subprocess.run(command, cwd=REPO, env=cdk_environment(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
