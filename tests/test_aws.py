"""Opt-in: deploys the example app to a real account. `pytest -m aws` with credentials and
DATAEXCHANGE_DATA_SET_ID (an entitled data set) set; skipped, with the reason, otherwise."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from app import STACK_NAME
from tools.toolchain import REPO, cdk_command, cdk_environment


def cdk(*arguments: str) -> None:
    subprocess.run(cdk_command(*arguments), cwd=REPO, env=cdk_environment(), check=True)


@pytest.mark.aws
def test_deploy_creates_the_event_action_and_destroy_removes_it(tmp_path: Path) -> None:
    data_set_id = os.environ.get("DATAEXCHANGE_DATA_SET_ID")
    if not data_set_id:
        pytest.skip("set DATAEXCHANGE_DATA_SET_ID to an entitled data set id to run the real-AWS test")
    if boto3.Session().get_credentials() is None:
        pytest.skip("no AWS credentials: configure a profile or AWS_ACCESS_KEY_ID to run the real-AWS test")
    outputs_file = tmp_path / "outputs.json"
    dataexchange = boto3.client("dataexchange")

    cdk("deploy", "-c", f"dataSetId={data_set_id}", "--require-approval", "never", "--outputs-file", str(outputs_file))
    try:
        outputs = json.loads(outputs_file.read_text())[STACK_NAME]
        event_action = dataexchange.get_event_action(EventActionId=outputs["EventActionId"])
        assert event_action["Arn"] == outputs["EventActionArn"]
        assert event_action["Event"]["RevisionPublished"]["DataSetId"] == data_set_id
    finally:
        cdk("destroy", "-c", f"dataSetId={data_set_id}", "--force")

    with pytest.raises(dataexchange.exceptions.ResourceNotFoundException):
        dataexchange.get_event_action(EventActionId=outputs["EventActionId"])
