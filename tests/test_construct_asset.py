"""The Lambda asset, from the synthesized cloud assembly."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from importlib import util
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from support import DATA_SET, ThreeExports, synthesized

from cdk_dataexchange_auto_export import AutoExportEventAction
from cdk_dataexchange_auto_export._asset import ASSET
from tools.api_model import MODEL, bundled_service, pinned_model, without_documentation
from tools.asset import HANDLER, build, differences
from tools.asset_budget import ASSET_BUDGET_BYTES, zipped_size


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
    # The lifecycle tests run the handler on the pinned botocore: its Data Exchange model is the one to bundle,
    # less the documentation botocore has no use for.
    pinned = pinned_model()
    bundled = asset_of(three) / "dataexchange_auto_export_handler" / "botocore_data" / MODEL
    service = json.loads(gzip.decompress((pinned / "service-2.json.gz").read_bytes()))

    assert bundled_service(bundled) == without_documentation(service), "run `python -m tools.api_model`"
    assert (bundled / "paginators-1.json").read_bytes() == (pinned / "paginators-1.json").read_bytes()


def test_the_vendored_crhelper_is_the_release_the_tests_run(three: ThreeExports) -> None:
    # The in-process tests import the crhelper pinned in requirements-dev.txt; the asset carries the vendored copy.
    spec = util.find_spec("crhelper")
    assert spec is not None and spec.submodule_search_locations
    installed = Path(next(iter(spec.submodule_search_locations)))
    vendored = HANDLER / "_vendor" / "crhelper"
    names = sorted(path.name for path in vendored.glob("*.py"))
    assert names == sorted(path.name for path in installed.glob("*.py"))
    for name in names:
        assert (vendored / name).read_bytes() == (installed / name).read_bytes(), f"run `make vendor`: {name} differs"
    assert (asset_of(three) / "crhelper" / "resource_helper.py").read_bytes() == (
        vendored / "resource_helper.py"
    ).read_bytes()


def test_the_shipped_asset_is_what_lambda_holds(tmp_path: Path) -> None:
    # Given the asset built afresh from lambda/
    build(HANDLER, tmp_path / "asset")

    # Then the one the construct ships is the same, file for file
    assert differences(tmp_path / "asset", ASSET) == [], "lambda/ changed since the asset was built: run `make`"


def staged_asset(new_cdk_app: Callable[..., cdk.App]) -> Path:
    """The asset of a stack synthesized now, with one construct."""
    stack = cdk.Stack(new_cdk_app(), "Asset")
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Destination"))
    assembly = synthesized(stack)
    (function_id,) = assembly.of_type("AWS::Lambda::Function")
    return assembly.function(function_id).asset_dir


def test_bytecode_beside_the_shipped_asset_never_enters_it(new_cdk_app: Callable[..., cdk.App]) -> None:
    # Given the asset as a synth stages it
    before = staged_asset(new_cdk_app)
    # When bytecode lies beside the shipped asset, as pip leaves it when it installs the package
    cache = ASSET / "dataexchange_auto_export_handler" / "__pycache__"
    cache.mkdir(exist_ok=True)
    compiled = cache / "index.cpython-311.pyc"
    compiled.write_bytes(b"bytecode of the installing Python")
    try:
        after = staged_asset(new_cdk_app)
    finally:
        compiled.unlink()
    # Then the staged asset, and so its hash, is the same
    assert after.name == before.name
    assert differences(after, ASSET) == []
