"""Builds the handler's Lambda asset on this machine: no Docker, no network.

The asset is the handler package plus crhelper, copied from the synth environment. boto3 is left
out because the Lambda Python runtime provides it.
"""

from __future__ import annotations

import shutil
from importlib import metadata, util
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    AssetStaging,
    BundlingOptions,
    DockerImage,
    FileAssetPackaging,
    ILocalBundling,
    Stack,
)
from constructs import Construct

import dataexchange_auto_export_handler

HANDLER_SOURCE = Path(dataexchange_auto_export_handler.__file__).parent

_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi")


def _crhelper_source() -> Path:
    # Located, not imported: importing crhelper imports boto3, which synth has no other use for.
    spec = util.find_spec("crhelper")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("crhelper is not installed where the CDK app runs; pip install crhelper")
    return Path(next(iter(spec.submodule_search_locations)))


@jsii.implements(ILocalBundling)
class _CopyHandlerAndCrhelper:
    def try_bundle(self, output_dir: str, *, image: Any = None, **_options: Any) -> bool:
        out = Path(output_dir)
        shutil.copytree(HANDLER_SOURCE, out / HANDLER_SOURCE.name, ignore=_SKIP, dirs_exist_ok=True)
        shutil.copytree(_crhelper_source(), out / "crhelper", ignore=_SKIP, dirs_exist_ok=True)
        # crhelper is Apache-2.0: its licence travels with the copy.
        for file in metadata.distribution("crhelper").files or []:
            if file.name.upper().startswith(("LICENSE", "NOTICE")):
                shutil.copyfile(Path(str(file.locate())), out / f"crhelper-{file.name}")
        return True


class HandlerAsset:
    """The asset staged in the cloud assembly and published with the stack: where its zip will be in S3."""

    def __init__(self, scope: Construct, id: str) -> None:
        staging = AssetStaging(
            scope,
            id,
            source_path=str(HANDLER_SOURCE),
            # Hashing the output, not the source, makes a crhelper upgrade produce a new asset.
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=BundlingOptions(
                # Required by the API but never pulled: local bundling always succeeds.
                image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
                local=_CopyHandlerAndCrhelper(),
            ),
        )
        stack = Stack.of(scope)
        location = stack.synthesizer.add_file_asset(
            source_hash=staging.asset_hash,
            file_name=staging.relative_staged_path(stack),
            packaging=FileAssetPackaging.ZIP_DIRECTORY,
        )
        self.bucket_name: str = location.bucket_name
        self.object_key: str = location.object_key
