"""The handler's Lambda code, built on this machine: no Docker, no network, nothing from the synth environment.

The asset is the handler package plus the crhelper release vendored in it (`_vendor/SOURCE`), laid out
as the Lambda runtime imports them. boto3 is left out because the Lambda Python runtime provides it.
The bytes, and so the asset hash, are the same wherever `cdk synth` runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

import dataexchange_auto_export_handler

HANDLER_SOURCE = Path(dataexchange_auto_export_handler.__file__).parent
VENDORED = HANDLER_SOURCE / "_vendor"

# What the runtime has no use for: bytecode of this machine's Python, and type stubs.
_NOT_RUNTIME = ("__pycache__", "*.pyc", "*.pyi")


@jsii.implements(ILocalBundling)
class _CopyHandlerAndCrhelper:
    def try_bundle(self, output_dir: str, *, image: Any = None, **_options: Any) -> bool:
        out = Path(output_dir)
        handler = shutil.ignore_patterns(*_NOT_RUNTIME, VENDORED.name)
        shutil.copytree(HANDLER_SOURCE, out / HANDLER_SOURCE.name, ignore=handler, dirs_exist_ok=True)
        crhelper = shutil.ignore_patterns(*_NOT_RUNTIME)
        shutil.copytree(VENDORED / "crhelper", out / "crhelper", ignore=crhelper, dirs_exist_ok=True)
        # crhelper is Apache-2.0: its licence travels with the copy.
        for notice in ("LICENSE", "NOTICE"):
            shutil.copyfile(VENDORED / notice, out / f"crhelper-{notice}")
        return True


def handler_code() -> lambda_.Code:
    """The code of the custom resource handler and the backfill worker: one asset however many functions
    of a stack run it (aws_lambda stages an AssetCode once per stack)."""
    return lambda_.Code.from_asset(
        str(HANDLER_SOURCE),
        # The hash of what is uploaded: the same bytes give the same asset on every machine.
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Required by the API but never pulled: local bundling always succeeds.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=_CopyHandlerAndCrhelper(),
        ),
    )
