"""What the CDK CLI does before it deploys, without the CLI: run the app with the environment the CLI gives it
(the CDK developer guide's "apps" and "context" pages: `CDK_OUTDIR`, `CDK_CONTEXT_JSON`, `CDK_DEFAULT_ACCOUNT`,
`CDK_DEFAULT_REGION`), or read a cloud assembly the CLI wrote, and find the stack that holds our resources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dataexchange_auto_export_handler.contract import RESOURCE_TYPES

from .account import ACCOUNT, REGION
from .assembly import AssemblyError, SynthesizedStack, stack_names

CDK_JSON = "cdk.json"
# Where the CDK CLI caches context it looked up; cdk.json's own context is written by hand, so it wins.
CDK_CONTEXT_JSON = "cdk.context.json"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except ValueError as error:
        raise AssemblyError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(loaded, dict):
        raise AssemblyError(f"{path} does not hold a JSON object")
    return loaded


def app_of(app_dir: Path, app: str | None) -> str:
    """The app to synthesize: `app` as given, else cdk.json's, as the CDK CLI reads it."""
    if app:
        return app
    cdk_json = app_dir / CDK_JSON
    configured = _read_json(cdk_json).get("app") if cdk_json.is_file() else None
    if not configured:
        raise AssemblyError(f"No app to synthesize: pass --app, or run where a {CDK_JSON} names one (in {app_dir})")
    return str(configured)


# What the CDK CLI adds to every app's context unless told otherwise (its `--path-metadata` and `--asset-metadata`,
# both on by default): the path of each resource (`aws:cdk:path`, which a drift report names) and its assets'.
CLI_DEFAULT_CONTEXT: Mapping[str, Any] = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def context_of(app_dir: Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The context the CDK CLI would pass: its defaults, cdk.context.json's, then cdk.json's, then the command
    line's."""
    context: dict[str, Any] = dict(CLI_DEFAULT_CONTEXT)
    for name in (CDK_CONTEXT_JSON, CDK_JSON):
        path = app_dir / name
        if path.is_file():
            loaded = _read_json(path)
            context.update(loaded if name == CDK_CONTEXT_JSON else loaded.get("context", {}))
    return {**context, **overrides}


def synthesize(app: str, app_dir: Path, out_dir: Path, context: Mapping[str, Any]) -> Path:
    """The app's cloud assembly: `app` itself if it is a cloud assembly folder, else what the command, run in
    `app_dir` as the CDK CLI runs it, writes into `out_dir`."""
    folder = app_dir / app
    if folder.is_dir():
        stack_names(folder)  # a folder that is no cloud assembly fails here
        return folder
    out_dir.mkdir(parents=True, exist_ok=True)
    # A manifest left by the last synth must not pass for this one's.
    (out_dir / "manifest.json").unlink(missing_ok=True)
    environment = {
        **os.environ,
        "CDK_OUTDIR": str(out_dir.resolve()),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        "CDK_DEFAULT_REGION": REGION,
        # As if this interpreter's venv were activated: cdk.json's `python3 app.py` finds the packages beside us.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    result = subprocess.run(app, shell=True, cwd=app_dir, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # Its own last word: a traceback's exception, or what sys.exit said.
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        said = lines[-1] if lines else f"exit status {result.returncode}, nothing printed"
        raise AssemblyError(f"The app failed to synthesize ({app}): {said}")
    if not (out_dir / "manifest.json").is_file():
        raise AssemblyError(f"The app ({app}) wrote no cloud assembly to CDK_OUTDIR: does it call app.synth()?")
    return out_dir


def ours(stack: SynthesizedStack) -> list[str]:
    """The logical ids of the stack's AutoExportEventAction and AutoExportProduct resources."""
    return [key for key, resource in stack.resources.items() if resource["Type"] in RESOURCE_TYPES]


def choose_stack(assembly_dir: Path, name: str | None) -> SynthesizedStack:
    """The stack called `name`, or else the only one that holds our resources; one with errors (Annotations) is not
    deployed, as the CDK CLI deploys none."""
    stack = _named_or_ours(assembly_dir, name)
    errors = stack.messages("Error")
    if errors:
        raise AssemblyError(f"Stack {stack.stack_name} has {len(errors)} error(s), so nothing is deployed: {errors[0]}")
    return stack


def _named_or_ours(assembly_dir: Path, name: str | None) -> SynthesizedStack:
    names = stack_names(assembly_dir)
    if name is not None:
        if name not in names:
            raise AssemblyError(f"No stack {name} in the app: its stacks are {_listed(names)}")
        stack = SynthesizedStack(assembly_dir, name)
        if not ours(stack):
            raise AssemblyError(f"Stack {name} holds no AutoExportEventAction or AutoExportProduct: nothing to run")
        return stack
    holding = [stack for stack in (SynthesizedStack(assembly_dir, each) for each in names) if ours(stack)]
    if not holding:
        raise AssemblyError(f"No stack holds an AutoExportEventAction or AutoExportProduct (stacks: {_listed(names)})")
    if len(holding) > 1:
        raise AssemblyError(f"Stacks {_listed([s.stack_name for s in holding])} hold ours: pick one with --stack")
    return holding[0]


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"
