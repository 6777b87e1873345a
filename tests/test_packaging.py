"""The wheel, and a stack written outside the repo that uses it from a fresh venv."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
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


def test_the_wheel_holds_the_construct_and_the_handler(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    construct_sources = {f"{PACKAGE}/{path.name}" for path in (REPO / "constructs" / PACKAGE).glob("*.py")}
    assert construct_sources, "no construct sources found"
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
    assert not [name for name in names if name.startswith(("constructs/", "lambda/", "tests/", "offline/"))]
    assert "constructs/__init__.py" not in names
    assert not [name for name in names if "__pycache__" in name]


@dataclass
class OutsideSynth:
    venv: Path
    site_packages: Path
    imported: dict[str, object]


@pytest.fixture(scope="module")
def outside_synth(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> OutsideSynth:
    # Given a fresh venv with only the wheel installed...
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
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # ...and, after it, this venv's packages for the dependencies (no download). Written after the install so
    # pip does not see this repo's editable install; a directory named in a .pth is not scanned for .pth files,
    # so that editable install's import hook stays out.
    (site_packages / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # ...and, ahead of them, a crhelper that is not the release the asset carries: the asset must not take it.
    (site_packages / "crhelper").mkdir()
    (site_packages / "crhelper" / "__init__.py").write_text("")
    (site_packages / "crhelper" / "resource_helper.py").write_text("# some other crhelper\n")

    # When a stack script outside the repo synthesizes, from outside the repo, in an isolated interpreter
    work = tmp_path_factory.mktemp("outside")
    (work / "stack.py").write_text(STACK_SCRIPT.format(package=PACKAGE, handler=HANDLER))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(QUIET_ENVIRONMENT)
    result = subprocess.run(
        [python, "-I", "stack.py", work / "cdk.out"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return OutsideSynth(venv, site_packages, json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_stack_outside_the_repo_uses_the_installed_wheel(outside_synth: OutsideSynth) -> None:
    imported = outside_synth.imported
    for module in ("package", "handler"):
        path = Path(str(imported[module]))
        assert path.is_relative_to(outside_synth.site_packages), f"{module} imported from {path}"
    assert imported["editable_finder"] == []


def test_constructs_is_the_pypi_package(outside_synth: OutsideSynth) -> None:
    imported = outside_synth.imported
    pypi_package = Path(sysconfig.get_paths()["purelib"]) / "constructs"
    assert Path(str(imported["constructs"])).parent == pypi_package
    # Not extended over the repo's constructs/ source root (the script runs outside the repo).
    assert imported["constructs_path"] == [str(pypi_package)]


def test_the_outside_asset_is_the_repos_whatever_crhelper_the_environment_holds(
    outside_synth: OutsideSynth, three: ThreeExports
) -> None:
    directory = Path(str(outside_synth.imported["directory"]))
    (asset,) = [path for path in directory.glob("asset.*") if path.is_dir()]
    # pip compiled the installed asset's modules with this venv's Python...
    installed = outside_synth.site_packages / PACKAGE / "lambda_asset"
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
