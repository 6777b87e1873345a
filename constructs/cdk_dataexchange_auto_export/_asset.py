"""The handler's Lambda code: a folder shipped ready-made beside this module (`lambda_asset/`, built from `lambda/`
by `make` and into the wheel by `setup.py`), which synth only hashes and stages. No bundling runs at synth, and
the same bytes give the same asset hash on every machine, Python and aws-cdk-lib."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

ASSET = Path(__file__).with_name("lambda_asset")
# pip compiles every module it installs, the asset's too: that bytecode is the installing Python's, not the
# function's, and would make the hash differ between machines.
_NOT_SHIPPED = ["**/__pycache__", "**/*.pyc"]


def handler_code() -> lambda_.Code:
    """The code of the custom resource handler and the backfill worker: one asset however many functions of a
    stack run it (aws_lambda stages an AssetCode once per stack)."""
    if not (ASSET / "dataexchange_auto_export_handler" / "index.py").is_file():
        raise FileNotFoundError(f"The handler's asset is missing from {ASSET}: run `make` (or reinstall the package)")
    return lambda_.Code.from_asset(str(ASSET), exclude=_NOT_SHIPPED)
