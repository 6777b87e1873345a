"""The Lambda asset, from the synthesized cloud assembly."""

from __future__ import annotations

from pathlib import Path

from support import ThreeExports

from cdk_dataexchange_auto_export._bundling import ASSET_BUDGET_BYTES
from offline.assembly import SynthesizedStack, zipped_size


def test_the_asset_holds_the_handler_and_crhelper_and_stays_small(three: ThreeExports) -> None:
    assembly = SynthesizedStack(Path(three.app.synth().directory), three.stack.artifact_id)
    (function_id,) = assembly.of_type("AWS::Lambda::Function")
    asset = assembly.function(function_id).asset_dir

    files = {path.relative_to(asset).as_posix() for path in asset.rglob("*") if path.is_file()}
    assert {"dataexchange_auto_export_handler/index.py", "crhelper/resource_helper.py"} <= files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.startswith("boto")], "the Lambda runtime provides boto3"
    assert zipped_size(asset) <= ASSET_BUDGET_BYTES
