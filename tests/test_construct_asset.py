"""The Lambda asset, from the synthesized cloud assembly."""

from __future__ import annotations

import subprocess
from importlib import util
from pathlib import Path

from support import ThreeExports, synthesized

from cdk_dataexchange_auto_export._bundling import HANDLER_SOURCE
from tools.asset_budget import ASSET_BUDGET_BYTES, zipped_size
from tools.toolchain import LAMBDA_PYTHON

MODEL = "dataexchange/2017-07-25"


def asset_of(three: ThreeExports) -> Path:
    assembly = synthesized(three.stack)
    (function_id,) = assembly.of_type("AWS::Lambda::Function")
    return assembly.function(function_id).asset_dir


def test_the_asset_holds_the_handler_and_crhelper_and_stays_small(three: ThreeExports) -> None:
    asset = asset_of(three)

    files = {path.relative_to(asset).as_posix() for path in asset.rglob("*") if path.is_file()}
    assert {"dataexchange_auto_export_handler/index.py", "crhelper/resource_helper.py"} <= files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.startswith("boto")], "the Lambda runtime provides boto3"
    assert zipped_size(asset) <= ASSET_BUDGET_BYTES


def test_the_asset_carries_the_api_model_the_handler_is_tested_with(three: ThreeExports) -> None:
    # The lifecycle tests run the handler on the pinned botocore: its Data Exchange model is the one to bundle.
    where = subprocess.run(
        [str(LAMBDA_PYTHON), "-I", "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pinned = Path(where) / "data" / MODEL
    bundled = asset_of(three) / "dataexchange_auto_export_handler" / "botocore_data" / MODEL

    for name in ("service-2.json.gz", "paginators-1.json"):
        assert (bundled / name).read_bytes() == (pinned / name).read_bytes(), (
            f"{name} differs from the pinned botocore's: copy {pinned / name} into "
            f"lambda/dataexchange_auto_export_handler/botocore_data/{MODEL}/"
        )


def test_the_vendored_crhelper_is_the_release_the_tests_run(three: ThreeExports) -> None:
    # The in-process tests import the crhelper pinned in requirements-dev.txt; the asset carries the vendored copy.
    spec = util.find_spec("crhelper")
    assert spec is not None and spec.submodule_search_locations
    installed = Path(next(iter(spec.submodule_search_locations)))
    vendored = Path(HANDLER_SOURCE / "_vendor" / "crhelper")
    names = sorted(path.name for path in vendored.glob("*.py"))
    assert names == sorted(path.name for path in installed.glob("*.py"))
    for name in names:
        assert (vendored / name).read_bytes() == (installed / name).read_bytes(), f"run `make vendor`: {name} differs"
    assert (asset_of(three) / "crhelper" / "resource_helper.py").read_bytes() == (
        vendored / "resource_helper.py"
    ).read_bytes()
