"""The drift check on demand in the local kit, on the example as `make demo` deploys it: `LocalDataExchange` changes
or deletes an event action behind the stack's back, `check_drift()` (`dataexchange-local check-drift`) runs the
day's schedules and returns what they report, and the deploy a report names repairs it offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest
from support import ALERT_EMAIL, DATA_SET, CliSynth, synthesized

from app import STACK_NAME, AutoExportStack
from cdk_dataexchange_auto_export.local import LocalDataExchange
from cdk_dataexchange_auto_export.local.cli import main
from tools.toolchain import LAMBDA_PYTHON


def kit(state_dir: Path, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    assert main([*arguments, "--state-dir", str(state_dir), "--lambda-python", str(LAMBDA_PYTHON)]) == 0
    return capsys.readouterr().out


@pytest.fixture
def state(example_synth: CliSynth, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    kit(tmp_path, capsys, "deploy", "--app", str(example_synth.outdir))
    return tmp_path


def test_check_drift_reports_a_deleted_and_a_changed_event_action_and_the_alert_carries_each(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = LocalDataExchange(state, lambda_python=LAMBDA_PYTHON)
    [action] = local.event_actions()

    # A colleague points it at another bucket
    changed = local.change_event_action(action["Id"], bucket="someone-elses-bucket")
    with local:
        [report] = local.check_drift().reports
    assert changed["Bucket"] == "someone-elses-bucket"
    assert (report["Drift"], report["ConstructPath"], report["EventActionId"]) == (
        "EventActionChanged",
        f"{STACK_NAME}/AutoExport/Resource/Default",
        action["Id"],
    )
    assert report["Found"].startswith(f"data set {DATA_SET} exported to s3://someone-elses-bucket/")

    # ...then deletes it: the command line says so, and what the alert topic receives
    local.delete_event_action(action["Id"])
    printed = kit(state, capsys, "check-drift")
    assert f"EventActionDeleted: {STACK_NAME}/AutoExport/Resource/Default (" in printed
    assert (
        f"offline: dataexchange-local deploy --state-dir {state} -c "
        f"@cdk-dataexchange-auto-export/repair={report['LogicalResourceId']}@" in printed
    )
    assert "Data Exchange Export Drift Detected at " in printed and ALERT_EMAIL not in printed
    assert ":sns:" in printed


def test_the_deploy_a_report_names_repairs_it_offline(
    state: Path, new_cdk_app: Callable[..., cdk.App], capsys: pytest.CaptureFixture[str]
) -> None:
    local = LocalDataExchange(state, lambda_python=LAMBDA_PYTHON)
    [action] = local.event_actions()
    local.delete_event_action(action["Id"])
    with local:
        [report] = local.check_drift().reports
        key, _, value = report["RepairCommand"].split(" -c ", 1)[1].partition("=")

        # The example, synthesized with the report's context as `cdk deploy -c` passes it
        app = new_cdk_app(
            context={"aws:cdk:disable-stack-trace": True, "aws:cdk:enable-path-metadata": True, key: value}
        )
        stack = AutoExportStack(app, STACK_NAME, data_set_id=DATA_SET, alert_email=ALERT_EMAIL)
        repaired = local.deploy(app=str(synthesized(stack).assembly_dir))

        assert [(r.request_type, r.logical_id) for r in repaired.requests][:1] == [
            ("Update", report["LogicalResourceId"])
        ]
        assert local.check_drift().reports == []
    [again] = local.event_actions()
    assert again["DataSetId"] == DATA_SET and again["Id"] != action["Id"]
