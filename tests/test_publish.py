"""A provider publishes a revision to the deployed example, through the local kit's command line as `make demo`
runs it: the export runs, Data Exchange sends its event, and the stack's rules do with it what EventBridge would."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from support import ALERT_EMAIL, DATA_SET, CliSynth, synthesize_example

from cdk_dataexchange_auto_export import ExistingRevisions
from cdk_dataexchange_auto_export.local.cli import main
from cdk_dataexchange_auto_export.local.eventbridge import transform
from tools.toolchain import LAMBDA_PYTHON

# The README's product: `make demo ARGS="deploy -c productId=prod-uexample0abc1d"`.
PRODUCT = "prod-uexample0abc1d"


def kit(state_dir: Path, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """`dataexchange-local ARGS` on the state folder, with the functions in the boto3-only Lambda-like Python (as
    `make demo` runs it); what it printed."""
    assert main([*arguments, "--state-dir", str(state_dir), "--lambda-python", str(LAMBDA_PYTHON)]) == 0
    return capsys.readouterr().out


@pytest.fixture
def deployed(example_synth: CliSynth, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The state folder of the example as `make demo` deploys it, from the CDK CLI's synth of app.py."""
    kit(tmp_path, capsys, "deploy", "--app", str(example_synth.outdir))
    return tmp_path


def test_a_failed_export_fires_the_alert_with_what_to_do(deployed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed = kit(deployed, capsys, "publish", "--fail", "S3AccessDenied")

    jobs = json.loads((deployed / "dataexchange.json").read_text())["Jobs"]
    [job] = jobs
    revision = job["Details"]["ExportRevisionsToS3"]["RevisionDestinations"][0]["RevisionId"]
    assert job["State"] == "ERROR" and job["Errors"][0]["Code"] == "ACCESS_DENIED_EXCEPTION"
    assert "'Auto-export Job Failed' (aws.dataexchange)" in printed
    assert "rule AutoExportFailedExports" in printed
    assert ":sns:us-east-1:123456789012:dataexchangeautoexport-alerttopic" in printed
    assert (
        f"Data Exchange Auto-export Job Failed at {job['UpdatedAt'][:19]}Z: data set {DATA_SET} [{{Id:{DATA_SET},"
        in printed
    )
    assert f"aws dataexchange list-jobs --data-set-id {DATA_SET} --revision-id {revision}, then" in printed
    assert not (deployed / "s3").exists()


def test_a_completed_export_writes_every_asset_and_alerts_nobody(
    deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = kit(deployed, capsys, "publish", "--asset", "prices/daily.csv", "--asset", "notes.txt")

    written = sorted(
        path.relative_to(deployed / "s3").as_posix() for path in (deployed / "s3").rglob("*") if path.is_file()
    )
    assert [name.split("/", 2)[2] for name in written] == ["notes.txt", "prices/daily.csv"]  # bucket/CreatedAt/name
    assert "'Auto-export Job Completed' (aws.dataexchange)" in printed
    assert "no rule of the stack matches it" in printed
    assert ALERT_EMAIL not in printed and "receives" not in printed


EVENT: dict[str, Any] = {
    "time": "2020-07-29T18:24:04Z",
    "detail": {"RevisionIds": ["r1", "r2"], "DataSets": [{"Id": "d1", "Name": "One"}]},
}


@pytest.mark.parametrize(
    ("template", "paths", "expected"),
    [
        ('"at <t>"', {"t": "$.time"}, '"at 2020-07-29T18:24:04Z"'),
        (
            '"revisions <r>, first <f>"',
            {"r": "$.detail.RevisionIds", "f": "$.detail.RevisionIds[0]"},
            '"revisions [r1,r2], first r1"',
        ),
        ('"data sets <d>"', {"d": "$.detail.DataSets"}, '"data sets [{Id:d1,Name:One}]"'),
        ('"missing <m>!"', {"m": "$.detail.Nothing"}, '"missing !"'),
        (
            '{"revisions": <r>, "time": <t>}',
            {"r": "$.detail.RevisionIds", "t": "$.time"},
            '{"revisions": ["r1", "r2"], "time": "2020-07-29T18:24:04Z"}',
        ),
        ('"<aws.events.rule-name> <t>"', {"t": "$.time"}, '"<aws.events.rule-name> 2020-07-29T18:24:04Z"'),
    ],
    ids=["string", "array-in-a-string", "objects-in-a-string", "missing-path", "json-template", "unknown-placeholder"],
)
def test_an_input_transformer_renders_as_the_eventbridge_guide_describes(
    template: str, paths: dict[str, str], expected: str
) -> None:
    assert transform({"InputTemplate": template, "InputPathsMap": paths}, EVENT) == expected


@pytest.fixture
def following(new_cdk_app: Callable[..., cdk.App], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The state folder of the product example, deployed (`make demo ARGS="deploy -c productId=..."`)."""
    product = synthesize_example(new_cdk_app, product_id=PRODUCT, alert_email=ALERT_EMAIL)
    printed = kit(tmp_path, capsys, "deploy", "--app", str(product.assembly_dir))
    assert "Prices daily (S3_SNAPSHOT, product prod-uexample0abc1d)" in printed
    return tmp_path


def test_a_data_set_the_provider_adds_is_followed_and_its_revisions_land(
    following: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = kit(following, capsys, "publish", "--product-id", PRODUCT, "--new-data-set", "--asset", "daily.csv")

    assert "'Data Sets Published To Product' (aws.dataexchange)" in printed
    assert "rule AutoExportProductDataSetsPublished" in printed
    assert "'Product Data Sets Added' (cdk-dataexchange-auto-export)" in printed
    state = json.loads((following / "dataexchange.json").read_text())
    [added] = [data_set for data_set in state["DataSets"] if data_set["Name"] == "Data set 5"]
    exportable = [d["Id"] for d in state["DataSets"] if d["AssetType"] == "S3_SNAPSHOT"]
    assert added["Id"] in exportable
    assert sorted(a["Event"]["RevisionPublished"]["DataSetId"] for a in state["EventActions"]) == sorted(exportable)
    written = [path.relative_to(following / "s3").as_posix() for path in (following / "s3").rglob("*.csv")]
    assert [path.split("/", 2)[1] for path in written] == ["Data set 5"]


def test_the_demo_shows_every_object_the_backfill_of_a_product_wrote(
    new_cdk_app: Callable[..., cdk.App], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the product example with a backfill of every revision, as `make demo ARGS="deploy -c productId=...
    # -c exportExisting=all"` synthesizes it (here in-process)
    example = synthesize_example(
        new_cdk_app, product_id=PRODUCT, alert_email=ALERT_EMAIL, export_existing=ExistingRevisions.ALL
    )

    printed = kit(tmp_path, capsys, "deploy", "--app", str(example.assembly_dir), "--revisions", "2")

    # Then each object the worker wrote while the deploy went on is listed, as the bucket holds it: two revisions
    # of each of the product's three file data sets
    written = sorted(path.relative_to(tmp_path / "s3").as_posix() for path in (tmp_path / "s3").rglob("*.csv"))
    assert len(written) == 6
    assert [line.strip() for line in printed.splitlines() if line.strip().startswith("s3://")] == [
        f"s3://{path}" for path in written
    ]
