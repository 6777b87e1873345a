"""The wheel, and, from a fresh venv with the wheel and its `local` extra, a stack written outside the repo and the
local kit's console script on a user's app outside the repo."""

from __future__ import annotations

import ast
import email
import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from market_data_app import PRICES, REFERENCE, STACK
from packaging.requirements import Requirement
from support import ThreeExports
from test_construct_asset import asset_of

from tools.toolchain import QUIET_ENVIRONMENT, REPO

PACKAGE = "cdk_dataexchange_auto_export"
HANDLER = "dataexchange_auto_export_handler"
# What the build must not see: other checkouts' venvs and outputs, and setuptools' own leftovers (a stale
# build/lib would put deleted modules into the wheel).
NOT_BUILD_INPUT = shutil.ignore_patterns(
    ".git", ".venv*", "node_modules", "cdk.out", ".offline", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)

STACK_SCRIPT = """
import json, sys

import aws_cdk as cdk
import constructs
import {package}
import {handler}
from aws_cdk import aws_s3 as s3
from {package} import AutoExportEventAction

app = cdk.App(outdir=sys.argv[1], builtin_cloud_formation_validation=False)
stack = cdk.Stack(app, "Outside")
AutoExportEventAction(stack, "AutoExport", data_set_id="8d494cba5e4720172a1e69a6e1b8fed5", bucket=s3.Bucket(stack, "B"))
assembly = app.synth()
print(json.dumps({{
    "package": {package}.__file__,
    "handler": {handler}.__file__,
    "constructs": constructs.__file__,
    "constructs_path": list(constructs.__path__),
    "directory": assembly.directory,
    "editable_finder": [type(f).__module__ for f in sys.meta_path if "editable" in type(f).__module__.lower()],
}}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "project"
    shutil.copytree(REPO, source, ignore=NOT_BUILD_INPUT)
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            wheelhouse,
            source,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = wheelhouse.glob("*.whl")
    return built


def test_the_wheel_holds_the_construct_the_handler_and_the_local_kit(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    root = REPO / "constructs"
    construct_sources = {path.relative_to(root).as_posix() for path in (root / PACKAGE).rglob("*.py")}
    assert f"{PACKAGE}/local/lambda_bootstrap.py" in construct_sources, "no kit sources found"
    assert construct_sources <= names
    assert {f"{PACKAGE}/py.typed", f"{HANDLER}/contract.py", f"{HANDLER}/export_settings.py"} <= names
    # The handler's asset, laid out as the Lambda runtime imports it: what synth stages
    asset = f"{PACKAGE}/lambda_asset"
    assert {
        f"{asset}/{HANDLER}/index.py",
        f"{asset}/{HANDLER}/botocore_data/dataexchange/2017-07-25/service-2.json.gz",
        f"{asset}/crhelper/resource_helper.py",
        f"{asset}/crhelper-LICENSE",
        f"{asset}/crhelper-NOTICE",
    } <= names
    assert not [name for name in names if name.startswith(("constructs/", "lambda/", "tests/", "tools/"))]
    assert "constructs/__init__.py" not in names
    assert not [name for name in names if "__pycache__" in name]


def test_the_wheel_declares_the_local_extra_and_its_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        info = next(name.split("/")[0] for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]
    base = {r.name for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})}
    local = {r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": "local"})} - base

    assert "local" in (metadata.get_all("Provides-Extra") or [])
    assert {"boto3", "moto", "trustme"} <= local
    assert base == {"aws-cdk-lib", "constructs"}  # the kit's needs stay out of the base install
    assert "dataexchange-local = cdk_dataexchange_auto_export.local.cli:main" in entry_points


@dataclass
class FreshVenv:
    python: Path
    bin: Path
    site_packages: Path
    env: dict[str, str]  # this process's environment, quiet, without PYTHON* variables


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    """A fresh venv with the wheel installed with its `local` extra, resolved by pip against this venv's packages (no
    download): they are linked into a folder that a .pth file puts after the venv's own site-packages, less this
    repo's editable install (its finder's .pth would not run there, a folder named in a .pth is not scanned)."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    dependencies = tmp_path_factory.mktemp("dependencies")
    for installed in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not installed.name.startswith(("__editable__", PACKAGE)):
            (dependencies / installed.name).symlink_to(installed)
    (site_packages / "zz_dependencies.pth").write_text(f"{dependencies}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--quiet", f"{wheel}[local]"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # ...and, ahead of the dependencies, a crhelper that is not the release the asset carries: the asset must not
    # take it, whether a stack is synthesized or its handler run.
    (site_packages / "crhelper").mkdir()
    (site_packages / "crhelper" / "__init__.py").write_text("")
    (site_packages / "crhelper" / "resource_helper.py").write_text("# some other crhelper\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(QUIET_ENVIRONMENT)
    return FreshVenv(python, venv / "bin", site_packages, env)


@dataclass
class OutsideSynth:
    venv: FreshVenv
    imported: dict[str, object]


@pytest.fixture(scope="module")
def outside_synth(fresh_venv: FreshVenv, tmp_path_factory: pytest.TempPathFactory) -> OutsideSynth:
    # When a stack script outside the repo synthesizes, from outside the repo, in an isolated interpreter
    work = tmp_path_factory.mktemp("outside")
    (work / "stack.py").write_text(STACK_SCRIPT.format(package=PACKAGE, handler=HANDLER))
    result = subprocess.run(
        [fresh_venv.python, "-I", "stack.py", work / "cdk.out"],
        cwd=work,
        env=fresh_venv.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return OutsideSynth(fresh_venv, json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_stack_outside_the_repo_uses_the_installed_wheel(outside_synth: OutsideSynth) -> None:
    imported = outside_synth.imported
    for module in ("package", "handler"):
        path = Path(str(imported[module]))
        assert path.is_relative_to(outside_synth.venv.site_packages), f"{module} imported from {path}"
    assert imported["editable_finder"] == []


def test_constructs_is_the_pypi_package(outside_synth: OutsideSynth) -> None:
    imported = outside_synth.imported
    pypi_package = Path(sysconfig.get_paths()["purelib"]) / "constructs"
    # (through the fresh venv's link to this venv's copy)
    assert Path(str(imported["constructs"])).parent.resolve() == pypi_package.resolve()
    # Not extended over the repo's constructs/ source root (the script runs outside the repo).
    assert [Path(str(path)).resolve() for path in imported["constructs_path"]] == [pypi_package.resolve()]


def test_the_outside_asset_is_the_repos_whatever_crhelper_the_environment_holds(
    outside_synth: OutsideSynth, three: ThreeExports
) -> None:
    directory = Path(str(outside_synth.imported["directory"]))
    (asset,) = [path for path in directory.glob("asset.*") if path.is_dir()]
    # pip compiled the installed asset's modules with this venv's Python...
    installed = outside_synth.venv.site_packages / PACKAGE / "lambda_asset"
    assert list(installed.rglob("*.pyc"))
    assert (asset / HANDLER / "index.py").read_bytes() == (REPO / "lambda" / HANDLER / "index.py").read_bytes()
    vendored = REPO / "lambda" / HANDLER / "_vendor" / "crhelper" / "resource_helper.py"
    assert (asset / "crhelper" / "resource_helper.py").read_bytes() == vendored.read_bytes()
    assert (asset / HANDLER / "botocore_data" / "dataexchange" / "2017-07-25" / "service-2.json.gz").is_file()
    assert not list(asset.rglob("__pycache__"))
    # The same bytes as the repo's own synth makes, so the same asset hash on every machine
    assert asset.name == asset_of(three).name


def test_the_repo_imports_the_construct_only_by_its_own_name() -> None:
    # constructs/ is a source root: a constructs/__init__.py would shadow the PyPI `constructs` package, and
    # `constructs.cdk_dataexchange_auto_export` would load a second copy of the construct.
    assert not (REPO / "constructs" / "__init__.py").exists()
    offending = []
    for path in [REPO / "app.py", *(REPO / "tests").rglob("*.py"), *(REPO / "constructs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names] + [str(node.module)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.startswith(f"constructs.{PACKAGE}") for name in names):
                offending.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offending == []
    assert f"constructs.{PACKAGE}" not in sys.modules


ASSET_HASH_SCRIPT = """
import json, pathlib, sys
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from cdk_dataexchange_auto_export import AutoExportEventAction

app = cdk.App(outdir=sys.argv[1])
stack = cdk.Stack(app, "Hashed")
AutoExportEventAction(stack, "Export", data_set_id="8d494cba5e4720172a1e69a6e1b8fed5", bucket=s3.Bucket(stack, "B"))
manifest = json.loads((pathlib.Path(app.synth().directory) / "Hashed.assets.json").read_text())
(asset,) = [key for key, file in manifest["files"].items() if file["source"]["packaging"] == "zip"]
print(sys.version.split()[0], asset)
"""


def test_the_asset_hash_is_the_same_on_the_oldest_supported_aws_cdk_lib(tmp_path: Path) -> None:
    # Given this repository's package on the pinned aws-cdk-lib and on the oldest one it supports (make setup builds
    # .venv-cdk-lowest, on another Python where the machine has one)
    hashes = {}
    for venv in (Path(sys.prefix), REPO / ".venv-cdk-lowest"):
        env = {
            **os.environ,
            **QUIET_ENVIRONMENT,
            "PYTHONPATH": os.pathsep.join([str(REPO / "constructs"), str(REPO / "lambda")]),
        }
        result = subprocess.run(
            [venv / "bin" / "python", "-c", ASSET_HASH_SCRIPT, tmp_path / venv.name],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        python, source_hash = result.stdout.split()
        hashes[f"{venv.name} (Python {python})"] = source_hash
    # Then the handler's asset hashes the same: a deployed function is not replaced by an upgrade or another machine
    assert len(set(hashes.values())) == 1, hashes


@dataclass
class KitRun:
    """`dataexchange-local`'s commands, in order, in the folder of a user's app outside the repo: what each
    returned, printed and took."""

    work: Path
    results: dict[str, subprocess.CompletedProcess[str]]
    seconds: dict[str, float]  # wall clock
    cpu_seconds: dict[str, float]  # user and system time of the command and every process it started

    def status(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.results[name].stdout)
        return loaded


KIT_COMMANDS = {
    "deploy": ["deploy", "--outputs-file", "outputs.json"],
    "publish": ["publish", "--data-set-id", PRICES, "--asset", "daily.csv"],
    "publish --fail": ["publish", "--data-set-id", PRICES, "--fail"],
    "status --json": ["status", "--json"],
    "destroy": ["destroy"],
    "status --json, destroyed": ["status", "--json"],
}


@pytest.fixture(scope="module")
def kit_run(fresh_venv: FreshVenv, tmp_path_factory: pytest.TempPathFactory) -> KitRun:
    # Given the user's app (a stack not named like the example's) in a folder of its own, as `cdk init` lays it out
    work = tmp_path_factory.mktemp("market-data")
    shutil.copy(REPO / "tests" / "market_data_app.py", work / "app.py")
    (work / "cdk.json").write_text(json.dumps({"app": "python3 app.py"}))
    # When the console script runs there: the app synthesized, the handler run by the fresh venv's Python
    run = KitRun(work, {}, {}, {})
    for name, arguments in KIT_COMMANDS.items():
        started, used = time.perf_counter(), _children_cpu_seconds()
        run.results[name] = subprocess.run(
            [fresh_venv.bin / "dataexchange-local", *arguments],
            cwd=work,
            env=fresh_venv.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        run.seconds[name] = time.perf_counter() - started
        run.cpu_seconds[name] = _children_cpu_seconds() - used
        assert run.results[name].returncode == 0, f"{name}: {run.results[name].stderr}"
    return run


def test_the_console_script_deploys_every_resource_of_a_users_stack(kit_run: KitRun) -> None:
    printed = kit_run.results["deploy"].stdout
    outputs = json.loads((kit_run.work / "outputs.json").read_text())[STACK]

    assert f"Created stack {STACK} from python3 app.py" in printed
    assert printed.count(": SUCCESS (") == 3  # two event actions and a product
    assert f"{STACK}.LandingBucketName = {outputs['LandingBucketName']}" in printed
    actions = kit_run.status("status --json")["event_actions"]
    assert {PRICES, REFERENCE} < {action["DataSetId"] for action in actions}
    assert len(actions) == 5  # and the product's three data sets of files


def test_the_console_script_lands_a_revision_and_a_failed_export_reaches_the_alert_topic(kit_run: KitRun) -> None:
    outputs = json.loads((kit_run.work / "outputs.json").read_text())[STACK]
    status = kit_run.status("status --json")

    [landed] = [uri for uri in status["objects"] if uri.endswith("/daily.csv")]
    assert landed.startswith(f"s3://{outputs['LandingBucketName']}/prices/")
    assert (kit_run.work / ".dataexchange-local" / "s3" / landed.removeprefix("s3://")).is_file()
    assert [event["detail-type"] for event in status["events"]] == ["Auto-export Job Failed"]
    assert [delivery["Target"] for delivery in status["deliveries"]] == [outputs["AlertTopicArn"]]
    assert f"→ {outputs['AlertTopicArn']} receives:" in kit_run.results["publish --fail"].stdout


def test_after_destroy_the_stack_owns_no_event_action_and_the_objects_stay(kit_run: KitRun) -> None:
    destroyed = kit_run.status("status --json, destroyed")

    assert (destroyed["stack"], destroyed["event_actions"]) == (None, [])
    assert destroyed["objects"] == kit_run.status("status --json")["objects"]


def test_the_console_script_deploys_in_under_30_s_and_publishes_in_under_5_s(kit_run: KitRun) -> None:
    # The startup targets (synth included for the deploy, interpreter start-up for each), held to the processor
    # time the commands used: the wall clock of a test also counts whatever else the machine runs meanwhile.
    measured = ", ".join(
        f"{name} {kit_run.seconds[name]:.1f} s ({kit_run.cpu_seconds[name]:.1f} s of processor time)"
        for name in KIT_COMMANDS
    )
    assert kit_run.cpu_seconds["deploy"] < 30, measured
    assert max(kit_run.cpu_seconds["publish"], kit_run.cpu_seconds["publish --fail"]) < 5, measured


def _children_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime
