"""The local kit on a user's own app (market_data_app.py, synthesized once in-process): what `LocalDataExchange`
deploys, publishes and destroys, the command line's errors and `status --json`, the app run as the CDK CLI runs
it, the README's example test, and the kit's independence from the handler's rules."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from market_data_app import OTHER_STACK, PRICES, PRICES_BACKFILL, PRODUCT, REFERENCE, SHARED_BUCKET, STACK, build
from support import DATA_SET, readme_code_block, synthesize_example

from cdk_dataexchange_auto_export import AutoExportEventAction
from cdk_dataexchange_auto_export.local import Deployed, LocalDataExchange
from cdk_dataexchange_auto_export.local.cli import main
from cdk_dataexchange_auto_export.local.synth import app_of, context_of, synthesize
from tools.toolchain import LAMBDA_PYTHON, REPO, cdk_environment

KIT = REPO / "constructs" / "cdk_dataexchange_auto_export" / "local"
HANDLER = "dataexchange_auto_export_handler"


@pytest.fixture(scope="module")
def market_data(new_cdk_app: Callable[..., cdk.App]) -> Path:
    """The user's app, both stacks, as a cloud assembly folder."""
    app = new_cdk_app()
    build(app)
    return Path(app.synth().directory)


@pytest.fixture(scope="module")
def deployed(market_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Deployed]:
    """Stack MarketData deployed once into a state folder, and what the deploy returned."""
    state = tmp_path_factory.mktemp("deployed") / "state"
    with LocalDataExchange(state, lambda_python=LAMBDA_PYTHON) as local:
        return state, local.deploy(app=str(market_data))


@pytest.fixture
def local(deployed: tuple[Path, Deployed], tmp_path: Path) -> Iterator[LocalDataExchange]:
    """The test's own copy of the deployed account."""
    shutil.copytree(deployed[0], tmp_path / "state")
    with LocalDataExchange(tmp_path / "state", lambda_python=LAMBDA_PYTHON) as copy:
        yield copy


def test_deploy_creates_every_resource_of_ours_and_backfills_the_newest_revisions(
    deployed: tuple[Path, Deployed],
) -> None:
    state, result = deployed
    local = LocalDataExchange(state)

    assert (result.stack, result.created) == (STACK, True)
    assert [w for w in result.warnings if w.startswith(f"[Warning at /{STACK}/Shared] Bucket {SHARED_BUCKET}")]
    assert sorted((r.request_type, r.resource_type, r.status) for r in result.requests) == [
        ("Create", "Custom::DataExchangeEventAction", "SUCCESS"),
        ("Create", "Custom::DataExchangeEventAction", "SUCCESS"),
        ("Create", "Custom::DataExchangeProductAutoExport", "SUCCESS"),
    ]
    # Each data set named is entitled with three revisions; the product gets three file data sets and one of APIs
    entitled = {data_set["Id"]: data_set for data_set in result.entitled}
    of_product = [d for d in result.entitled if d["ProductId"] == PRODUCT]
    assert [len(entitled[data_set]["Revisions"]) for data_set in (PRICES, REFERENCE)] == [3, 3]
    assert sorted(d["AssetType"] for d in of_product) == ["API_GATEWAY_API", *["S3_SNAPSHOT"] * 3]
    exported = {action["DataSetId"]: action for action in local.event_actions()}
    assert sorted(exported) == sorted([PRICES, REFERENCE, *(d["Id"] for d in of_product if d["Revisions"])])
    bucket = result.outputs["LandingBucketName"]
    assert (exported[PRICES]["Bucket"], exported[REFERENCE]["Bucket"]) == (bucket, SHARED_BUCKET)
    # The backfill of the Prices data set exported its newest revisions, one asset each
    newest = list(enumerate(entitled[PRICES]["Revisions"], start=1))[-PRICES_BACKFILL:]
    expected = sorted(f"s3://{bucket}/prices/{revision}/history/revision-{n}.csv" for n, revision in newest)
    assert result.activity.objects == expected == local.objects()


def test_a_failed_export_reaches_the_alert_topic_and_a_completed_one_lands(
    local: LocalDataExchange, deployed: tuple[Path, Deployed]
) -> None:
    outputs = deployed[1].outputs

    completed = local.publish(PRICES, assets=["daily.csv"])
    failed = local.publish(PRICES, ["daily.csv"], fail="KmsKeyDisabled")

    assert completed.activity.objects == [
        f"s3://{outputs['LandingBucketName']}/prices/{completed.revision_id}/daily.csv"
    ]
    assert [job["State"] for job in completed.jobs + failed.jobs] == ["COMPLETED", "ERROR"]
    assert failed.jobs[0]["Errors"][0]["Code"] == "ACCESS_DENIED_EXCEPTION"
    assert failed.activity.objects == []
    [event] = local.events()
    assert (event["detail-type"], event["detail"]["RevisionIds"]) == ("Auto-export Job Failed", [failed.revision_id])
    assert [(d["EventId"], d["Target"]) for d in local.deliveries()] == [(event["id"], outputs["AlertTopicArn"])]


def test_a_data_set_added_to_the_product_gets_its_event_action_before_its_first_revision(
    local: LocalDataExchange, deployed: tuple[Path, Deployed]
) -> None:
    published = local.publish_new_data_set(PRODUCT, ["daily.csv"])

    assert published.added is not None and published.added["Name"] == "Data set 5"
    assert published.data_set_id in local.exported_data_sets()
    [written] = published.activity.objects
    assert written.startswith(f"s3://{deployed[1].outputs['LandingBucketName']}/Data set 5/")
    assert written.endswith("/daily.csv")
    [announced] = [e for e in published.activity.events if e["detail-type"] == "Data Sets Published To Product"]
    assert published.activity.rules[announced["id"]], "no rule of the stack reconciled the product"


def test_a_second_deploy_is_an_update_and_an_unchanged_app_changes_nothing(
    local: LocalDataExchange, market_data: Path
) -> None:
    before = local.event_actions()

    again = local.deploy(app=str(market_data))

    assert (again.created, again.requests) == (False, [])
    assert local.event_actions() == before


def test_destroy_deletes_every_event_action_the_stack_owned_and_leaves_the_objects(local: LocalDataExchange) -> None:
    objects = local.objects()

    destroyed = local.destroy()

    assert destroyed.stack == STACK
    assert [r.request_type for r in destroyed.requests] == ["Delete"] * 3
    assert (local.event_actions(), local.status()["stack"], local.objects()) == ([], None, objects)
    assert local.destroy().stack is None  # nothing left to destroy


def test_status_json_lists_event_actions_objects_and_the_events_that_reached_a_rule(
    local: LocalDataExchange, capsys: pytest.CaptureFixture[str]
) -> None:
    local.publish(PRICES, fail="S3AccessDenied")

    assert main(["status", "--json", "--state-dir", str(local.state_dir)]) == 0

    status = json.loads(capsys.readouterr().out)
    actions = {action["DataSetId"]: action for action in status["event_actions"]}
    assert (actions[PRICES]["KeyPattern"], actions[REFERENCE]["KeyPattern"]) == (
        "prices/${Revision.Id}/${Asset.Name}",
        "${Revision.CreatedAt}/${Asset.Name}",  # none given: the service's default
    )
    assert actions[REFERENCE]["Bucket"] == SHARED_BUCKET
    assert all(action["Arn"].endswith(f"event-actions/{action['Id']}") for action in actions.values())
    assert status["objects"] == local.objects() and all(uri.startswith("s3://") for uri in status["objects"])
    assert [event["detail-type"] for event in status["events"]] == ["Auto-export Job Failed"]
    assert status["stack"]["Name"] == STACK


BAD_INPUT = [
    pytest.param(
        ["deploy", "--app", """python3 -c 'raise SystemExit("Invalid context: pass -c dataSetId")'"""],
        "The app failed to synthesize (python3 -c 'raise SystemExit(\"Invalid context: pass -c dataSetId\")'): "
        "Invalid context: pass -c dataSetId",
        id="app fails",
    ),
    pytest.param(
        ["deploy", "--app", "{market_data}", "--stack", "Nope"],
        f"No stack Nope in the app: its stacks are {STACK}, {OTHER_STACK}",
        id="unknown stack",
    ),
    pytest.param(
        ["deploy", "--app", "{market_data}", "--stack", OTHER_STACK],
        f"Stack {OTHER_STACK} holds no AutoExportEventAction or AutoExportProduct",
        id="none of ours",
    ),
    pytest.param(
        ["publish", "--data-set-id", DATA_SET],
        f"Stack {STACK} does not export data set {DATA_SET}: it exports ",
        id="not exported",
    ),
    pytest.param(["publish"], f"Which data set? Stack {STACK} exports {PRICES}, ", id="which data set"),
    pytest.param(
        ["deploy", "--app", "{flagged}"],
        "Stack Flagged has 1 error(s), so nothing is deployed: [Error at /Flagged] every stack needs a cost centre",
        id="errors annotated",
    ),
    pytest.param(
        ["deploy", "--app", "{example}"],
        f"holds stack {STACK}, not DataExchangeAutoExport: destroy it first",
        id="another stack's state",
    ),
]


@pytest.fixture(scope="module")
def example(new_cdk_app: Callable[..., cdk.App]) -> Path:
    return synthesize_example(new_cdk_app, data_set_id=DATA_SET).assembly_dir


@pytest.fixture(scope="module")
def flagged(new_cdk_app: Callable[..., cdk.App]) -> Path:
    """An app whose stack of ours carries an error annotation (a policy of the user's, say)."""
    app = new_cdk_app()
    stack = cdk.Stack(app, "Flagged")
    AutoExportEventAction(stack, "Export", data_set_id=DATA_SET, bucket=s3.Bucket(stack, "Bucket"))
    cdk.Annotations.of(stack).add_error("every stack needs a cost centre")
    return Path(app.synth().directory)


@pytest.mark.parametrize(("arguments", "error"), BAD_INPUT)
def test_bad_input_is_a_one_line_error_and_changes_nothing(
    arguments: list[str],
    error: str,
    local: LocalDataExchange,
    market_data: Path,
    example: Path,
    flagged: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = local.status()
    given = [argument.format(market_data=market_data, example=example, flagged=flagged) for argument in arguments]

    assert main([*given, "--state-dir", str(local.state_dir), "--lambda-python", str(LAMBDA_PYTHON)]) == 1

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("❌  ") and error in line
    assert local.status() == before


def test_publishing_before_any_deploy_says_to_deploy_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "--data-set-id", PRICES, "--state-dir", str(tmp_path)]) == 1

    assert capsys.readouterr().err == f"❌  No stack is deployed in {tmp_path}: deploy first, then publish to it\n"


RECORDING_APP = """
import json, os, sys
out = os.environ["CDK_OUTDIR"]
json.dump({"version": "48.0.0", "artifacts": {}}, open(os.path.join(out, "manifest.json"), "w"))
seen = {name: os.environ.get(name) for name in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")}
seen.update(context=json.loads(os.environ["CDK_CONTEXT_JSON"]), prefix=sys.prefix, cwd=os.getcwd())
json.dump(seen, open(os.path.join(out, "seen.json"), "w"))
"""


def test_the_app_runs_as_the_cdk_cli_runs_it_with_the_context_of_every_source(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "record.py").write_text(RECORDING_APP)
    files = {"fromCdkJson": "1", "inBothFiles": "cdk.json", "everywhere": "cdk.json"}
    (app_dir / "cdk.json").write_text(json.dumps({"app": "python3 record.py", "context": files}))
    cache = {"cached": "vpc-1", "inBothFiles": "cdk.context.json", "everywhere": "cdk.context.json"}
    (app_dir / "cdk.context.json").write_text(json.dumps(cache))

    out = synthesize(
        app_of(app_dir, None),
        app_dir,
        tmp_path / "out",
        context_of(app_dir, {"everywhere": "command line", "fromCommandLine": "2"}),
    )

    seen = json.loads((out / "seen.json").read_text())
    assert seen["context"] == {
        "aws:cdk:enable-path-metadata": True,  # the CLI's defaults: a drift report names the resource's path
        "aws:cdk:enable-asset-metadata": True,
        "cached": "vpc-1",
        "fromCdkJson": "1",
        "inBothFiles": "cdk.json",
        "everywhere": "command line",
        "fromCommandLine": "2",
    }
    assert (seen["CDK_DEFAULT_ACCOUNT"], seen["CDK_DEFAULT_REGION"]) == ("123456789012", "us-east-1")
    # cdk.json's `python3` is this interpreter's, as in its activated venv, and the app runs in its folder
    assert (seen["prefix"], seen["cwd"]) == (sys.prefix, str(app_dir))


def test_the_readme_test_passes_on_the_app_it_describes(market_data: Path, tmp_path: Path) -> None:
    code = readme_code_block("## Run it offline")
    assert len(code.splitlines()) < 30, "the README promises a test under 30 lines"
    (tmp_path / "cdk.json").write_text(json.dumps({"app": str(market_data)}))
    (tmp_path / "test_market_data.py").write_text(code)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_market_data.py"],
        cwd=tmp_path,
        env=cdk_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def _imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, dotted name) of everything a module imports: `from X import a` imports X.a."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(node.level, f"{node.module or ''}.{alias.name}".lstrip(".")) for alias in node.names]
    return found


def test_the_kit_takes_nothing_of_the_handler_but_its_contract() -> None:
    # The stand-ins keep rules of their own, written from AWS's documentation: a wrong rule in the handler (or in the
    # construct, which shares the handler's) must show up as a disagreement, not be copied.
    offending = []
    for path in sorted(KIT.rglob("*.py")):
        depth = len(path.relative_to(KIT).parts)  # how many relative levels stay inside the kit
        for level, module in _imports(path):
            handler = module == HANDLER or module.startswith(f"{HANDLER}.")
            contract = module == f"{HANDLER}.contract" or module.startswith(f"{HANDLER}.contract.")
            if (level == 0 and handler and not contract) or level > depth:
                offending.append(f"{path.relative_to(REPO)}: {'.' * level}{module}")
    assert offending == []
