"""The Lambda asset, from the synthesized cloud assembly."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support import ThreeExports, synthesized

from offline.assembly import ASSET_BUDGET_BYTES, zipped_size
from offline.toolchain import LAMBDA_PYTHON

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
