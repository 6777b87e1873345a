"""`python -m offline`: deploy, update and destroy the example stack against a local Data Exchange, and
publish revisions to it.

The CDK CLI synthesizes app.py, the handler runs from the staged asset in a Lambda-like process,
and the event actions live in a local endpoint whose state survives between commands. `publish`
plays a provider publishing a revision: the event actions export it, Data Exchange sends its
EventBridge event, and the stack's rules say what they would do with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dataexchange_auto_export_handler.properties import BACKFILL_SOURCE
from tools.toolchain import LAMBDA_PYTHON, REPO

from .assembly import AssemblyError, SynthesizedStack
from .aws import DATAEXCHANGE_STATE_FILE, OfflineAws
from .cloudformation import LifecycleError, StackState
from .endpoints import DataExchangeEndpoint
from .endpoints.dataexchange_jobs import FAILURES

STACK_NAME = "DataExchangeAutoExport"
RESOURCE_TYPE = "Custom::DataExchangeEventAction"
PRODUCT_RESOURCE_TYPE = "Custom::DataExchangeProductAutoExport"
# Any well-formed id works against the local endpoint; this one is the README's example.
DEMO_DATA_SET_ID = "8d494cba5e4720172a1e69a6e1b8fed5"
# The product the demo follows with --product-id: prod- and 13 letters and digits, as the user guide's ids.
DEMO_PRODUCT_ID = "prod-uexample0abc1d"
# Its data sets (name, asset type), and one of another product the account subscribes to as well.
DEMO_PRODUCT_DATA_SETS = (
    ("Prices daily", "S3_SNAPSHOT"),
    ("Reference instruments", "S3_SNAPSHOT"),
    ("Corporate actions", "S3_SNAPSHOT"),
    ("Live quotes API", "API_GATEWAY_API"),
)
DEMO_OTHER_PRODUCT = ("prod-zexample9xyz2e", "Another product's data")
# Where the demo's alert would be mailed: the topic exists offline, the mail does not.
DEMO_ALERT_EMAIL = "data-team@example.com"
DEMO_ASSETS = ("prices/daily.csv", "reference/instruments.csv")
# What the provider published before the stack existed: (asset names, finalized, revoked).
SEEDED_REVISIONS = (
    (("prices/2026-09.csv", "reference/instruments.csv"), True, False),
    (("prices/2026-10.csv",), True, True),
    (("prices/2026-10-restated.csv", "reference/instruments.csv"), True, False),
    (("prices/2026-11-draft.csv",), False, False),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m offline",
        description="Run the example stack's lifecycle against a local Data Exchange endpoint (no AWS account).",
    )
    parser.add_argument("--state-dir", type=Path, default=REPO / ".offline", help="where the offline stack lives")
    parser.add_argument(
        "--lambda-python",
        type=Path,
        default=Path(os.environ.get("OFFLINE_LAMBDA_PYTHON", LAMBDA_PYTHON)),
        help="Python of an environment holding only boto3, like the Lambda runtime (default: .venv-lambda)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", help="create the stack, or update it to new settings")
    deploy.add_argument("--data-set-id", default=DEMO_DATA_SET_ID, help="context dataSetId (default: %(default)s)")
    deploy.add_argument(
        "--product-id",
        help=f"context productId instead of dataSetId: follow every data set of a product (e.g. {DEMO_PRODUCT_ID}); "
        "it gets a few data sets first if it has none",
    )
    deploy.add_argument("--bucket-name", help="context bucketName: export to this existing bucket")
    deploy.add_argument("--key-pattern", help="context keyPattern, e.g. '${Revision.Id}/${Asset.Name}'")
    deploy.add_argument("--kms-key-arn", help="context kmsKeyArn: SSE-KMS with this key")
    deploy.add_argument(
        "--adopt-existing", action="store_true", help="context adoptExisting: take over an event action made elsewhere"
    )
    deploy.add_argument(
        "--alert-email", default=DEMO_ALERT_EMAIL, help="context alertEmail ('' for none; default: %(default)s)"
    )
    deploy.add_argument(
        "--export-existing",
        default="all",
        help="context exportExisting: all, a number of newest revisions, or none (default: %(default)s); the data "
        "set gets a few revisions first if it has none",
    )
    deploy.add_argument(
        "--outputs-file", type=Path, default=REPO / "cdk-outputs.json", help="like cdk deploy --outputs-file"
    )
    publish = commands.add_parser(
        "publish", help="a provider publishes a revision to the deployed data set: see the export and the alerts"
    )
    publish.add_argument("--fail", choices=sorted(FAILURES), help="the export fails for this reason")
    publish.add_argument("--assets", nargs="+", default=list(DEMO_ASSETS), help="asset names (default: %(default)s)")
    publish.add_argument(
        "--new-data-set",
        action="store_true",
        help="for a product's stack: the provider first adds a data set to the product, then publishes to it",
    )
    commands.add_parser("destroy", help="delete the stack's event action and forget the stack")
    commands.add_parser("status", help="show the offline stack and the event actions the endpoint holds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "deploy":
            _deploy(arguments)
        elif arguments.command == "destroy":
            _destroy(arguments)
        elif arguments.command == "publish":
            _publish(arguments)
        else:
            _status(arguments)
    except (AssemblyError, LifecycleError) as error:
        print(f"\n❌  {STACK_NAME} (offline): {error}", file=sys.stderr)
        return 1
    return 0


def _step(text: str) -> None:
    print(f"» {text}", flush=True)


def _lambda_python(arguments: argparse.Namespace) -> Path:
    if not arguments.lambda_python.exists():
        raise LifecycleError(f"No Lambda-like Python at {arguments.lambda_python}: run `make setup` first")
    return Path(arguments.lambda_python)


def _synthesize(arguments: argparse.Namespace, context: dict[str, str]) -> SynthesizedStack:
    shown = " ".join(f"-c {key}={value}" for key, value in context.items())
    _step(f"Synthesizing app.py with the CDK CLI (npx cdk synth {shown})")
    return SynthesizedStack.synthesize(STACK_NAME, context, arguments.state_dir / "cdk.out")


def _deploy(arguments: argparse.Namespace) -> None:
    context = {"productId": arguments.product_id} if arguments.product_id else {"dataSetId": arguments.data_set_id}
    for key, value in (
        ("bucketName", arguments.bucket_name),
        ("keyPattern", arguments.key_pattern),
        ("kmsKeyArn", arguments.kms_key_arn),
        ("adoptExisting", "true" if arguments.adopt_existing else None),
        ("alertEmail", arguments.alert_email),
        ("exportExisting", arguments.export_existing),
    ):
        if value:
            context[key] = value
    started = time.perf_counter()
    stack = _synthesize(arguments, context)
    with OfflineAws(state_dir=arguments.state_dir) as aws:
        state_file = arguments.state_dir / DATAEXCHANGE_STATE_FILE
        _step(f"Local Data Exchange at {aws.dataexchange.url} (state in {state_file})")
        if arguments.product_id:
            _seed_product(aws, arguments.product_id, arguments.export_existing != "none")
        elif arguments.export_existing != "none" and aws.dataexchange.revisions(arguments.data_set_id) == []:
            _seed(aws, arguments.data_set_id)
        runtime = aws.runtime(_lambda_python(arguments))
        s3_root = arguments.state_dir / "s3"
        # Taken before the deploy: the worker it invokes starts writing while the deploy goes on.
        before = _objects(s3_root)
        with aws.cloudformation(stack, arguments.state_dir / "stack.json", runtime) as cloudformation:
            verb = "Updating" if StackState.load(cloudformation.state_file) else "Creating"
            _step(f"{verb} stack {STACK_NAME}: invoking the handler from the staged asset")
            outputs = cloudformation.deploy()
        for invocation in cloudformation.invocations:
            request = invocation.request
            print(
                f"   {request['RequestType']:<6} {request['ResourceType']} {request['LogicalResourceId']}: "
                f"{invocation.response['Status']} ({invocation.response['PhysicalResourceId']}, "
                f"{invocation.execution.seconds:.2f}s)"
            )
        deployed = time.perf_counter() - started
        if arguments.product_id:
            _report_event_actions(aws)
        _report_backfill(aws, s3_root, before)
    arguments.outputs_file.write_text(json.dumps({STACK_NAME: outputs}, indent=2) + "\n")
    print(f"\n ✅  {STACK_NAME} (offline)\n\n✨  Deployment time: {deployed:.2f}s\n")
    print("Outputs:")
    for name, value in sorted(outputs.items()):
        print(f"{STACK_NAME}.{name} = {value}")
    print(f"\nOutputs written to {arguments.outputs_file}")
    again = f"deploy --product-id {arguments.product_id}" if arguments.product_id else "deploy"
    pattern = (
        "'${DataSet.Id}/${Revision.Id}/${Asset.Name}'" if arguments.product_id else "'${Revision.Id}/${Asset.Name}'"
    )
    lines = [
        "  publish:           .venv/bin/python -m offline publish [--fail S3AccessDenied]",
        *(["  add a data set:    .venv/bin/python -m offline publish --new-data-set"] if arguments.product_id else []),
        f"  update in place:   .venv/bin/python -m offline {again} --key-pattern {pattern}",
        "  replace:           .venv/bin/python -m offline deploy --data-set-id <another 30-40 character id>",
        "  destroy:           .venv/bin/python -m offline destroy",
        "  deploy for real:   make cdk ARGS='deploy -c dataSetId=<entitled data set id>' (or -c productId=<product>)",
        "                     (AWS credentials, a bootstrapped account and an entitled data set; see README)",
    ]
    print("\nNext:\n" + "\n".join(lines))


def _seed_product(aws: OfflineAws, product_id: str, with_history: bool) -> None:
    """A product the account subscribes to, made on first use: file data sets (each with a revision published
    before the stack, when the history is exported), one of API assets, and another product's data set."""
    known = {data_set["Id"]: data_set for data_set in aws.dataexchange.data_sets()}
    if any(data_set["OriginDetails"]["ProductId"] == product_id for data_set in known.values()):
        return
    _step(f"The account subscribes to product {product_id}, whose provider published these data sets:")
    for name, asset_type in DEMO_PRODUCT_DATA_SETS:
        data_set = aws.dataexchange.add_data_set(product_id, name, asset_type)
        print(f"   {data_set['Id']} {name} ({asset_type})")
        if with_history and asset_type == "S3_SNAPSHOT":
            aws.dataexchange.add_revision(data_set["Id"], [f"{name.lower().replace(' ', '-')}/2026-11.csv"])
    other, name = DEMO_OTHER_PRODUCT
    print(f"   and, of product {other}: {aws.dataexchange.add_data_set(other, name)['Id']} {name}")


def _seed(aws: OfflineAws, data_set_id: str) -> None:
    """A history for the backfill to find: three revisions to export, one revoked, one still a draft."""
    _step(f"The provider published revisions to data set {data_set_id} before the stack existed:")
    for number, (assets, finalized, revoked) in enumerate(SEEDED_REVISIONS, start=1):
        revision = aws.dataexchange.add_revision(data_set_id, assets, finalized=finalized, revoked=revoked)
        state = "revoked" if revoked else "finalized" if finalized else "draft, not finalized"
        print(f"   {number}. {revision['Id']} ({state}): {', '.join(assets)}")


def _report_event_actions(aws: OfflineAws) -> None:
    """Which data set each event action exports, and where to."""
    names = {data_set["Id"]: data_set["Name"] for data_set in aws.dataexchange.data_sets()}
    actions = aws.dataexchange.event_actions()
    _step(f"The local Data Exchange holds {len(actions)} event action(s):")
    for action in actions:
        data_set = action["Event"]["RevisionPublished"]["DataSetId"]
        destination = action["Action"]["ExportRevisionToS3"]["RevisionDestination"]
        print(
            f"   {action['Id']}: data set {data_set} ({names.get(data_set, '?')}) to "
            f"s3://{destination['Bucket']}/{destination.get('KeyPattern', '')}"
        )


def _objects(s3_root: Path) -> set[Path]:
    return {path for path in s3_root.rglob("*") if path.is_file()}


def _report_backfill(aws: OfflineAws, s3_root: Path, before: set[Path]) -> None:
    """Waits for the background worker, then says what it exported and where (the objects not in `before`)."""
    invocations = aws.lambda_.wait()
    if not invocations:
        return
    _step(f"The backfill worker ran in the background ({len(invocations)} invocation(s)):")
    for invocation in invocations:
        output = invocation.execution.output if invocation.execution else invocation.error or ""
        for line in output.splitlines():
            if "dataexchange_auto_export_handler.backfill" in line:
                print("   " + line.split("\t")[-1])
    for event in aws.bus.events:
        if event["source"] == BACKFILL_SOURCE:
            detail = event["detail"]
            print(
                f"   → the default event bus: '{event['detail-type']}' ({event['source']}): {detail['Exported']} "
                f"exported, {detail['Skipped']} skipped, {detail['Failed']} failed"
            )
    written = sorted(_objects(s3_root) - before)
    for path in written:
        print(f"   s3://{path.relative_to(s3_root).as_posix()}")


def _deployed(arguments: argparse.Namespace, then: str) -> SynthesizedStack | None:
    """The stack as last deployed, or None when there is none."""
    if not (arguments.state_dir / "stack.json").exists():
        print(f"{STACK_NAME} (offline) does not exist: nothing to {then}")
        return None
    stack_dir = arguments.state_dir / "cdk.out"
    if not (stack_dir / "manifest.json").exists():
        raise LifecycleError(f"The synthesized stack in {stack_dir} is gone: run deploy once more, then {then}")
    return SynthesizedStack(stack_dir, STACK_NAME)


def _destroy(arguments: argparse.Namespace) -> None:
    stack = _deployed(arguments, "destroy")
    if stack is None:
        return
    with OfflineAws(state_dir=arguments.state_dir) as aws:
        runtime = aws.runtime(_lambda_python(arguments))
        with aws.cloudformation(stack, arguments.state_dir / "stack.json", runtime) as cloudformation:
            _step(f"Deleting stack {STACK_NAME}: invoking the handler from the staged asset")
            cloudformation.destroy()
        remaining = len(aws.dataexchange.event_actions())
    print(f"\n ✅  {STACK_NAME} (offline): destroyed; the local endpoint holds {remaining} event action(s)")


def _publish(arguments: argparse.Namespace) -> None:
    stack = _deployed(arguments, "publish to")
    if stack is None:
        return
    with OfflineAws(state_dir=arguments.state_dir) as aws:
        runtime = aws.runtime(_lambda_python(arguments))
        cloudformation = aws.cloudformation(stack, arguments.state_dir / "stack.json", runtime)
        resources = cloudformation.state().resources.values()
        data_sets = [r.properties["DataSetId"] for r in resources if r.resource_type == RESOURCE_TYPE]
        products = [r for r in resources if r.resource_type == PRODUCT_RESOURCE_TYPE]
        if arguments.new_data_set:
            if not products:
                raise LifecycleError("--new-data-set needs a product's stack: deploy --product-id first")
            data_sets.append(_add_data_set(aws, products[0].physical_id))
        else:
            data_sets += [data_set for product in products for data_set in product.data["DataSetIds"].split(",")]
        for data_set_id in dict.fromkeys(data_sets):
            _publish_revision(aws, data_set_id, arguments.assets, arguments.fail)


def _add_data_set(aws: OfflineAws, product_id: str) -> str:
    """The provider adds a data set to the product; Data Exchange's event makes the stack's rule reconcile."""
    count = sum(1 for item in aws.dataexchange.data_sets() if item["OriginDetails"]["ProductId"] == product_id)
    data_set = aws.dataexchange.add_data_set(product_id, f"Data set {count + 1}")
    _step(f"The provider adds data set {data_set['Id']} ({data_set['Name']}) to product {product_id}")
    event = aws.dataexchange.publish_data_sets(product_id, [data_set["Id"]])
    _step(f"Data Exchange sends '{event['detail-type']}' ({event['source']}) to the default event bus")
    for rule in aws.bus.matches[event["id"]]:
        print(f"   rule {rule} matches: the handler reconciles the product")
    for invocation in aws.lambda_.wait():
        output = invocation.execution.output if invocation.execution else invocation.error or ""
        for line in output.splitlines():
            if "dataexchange_auto_export_handler" in line:
                print("   " + line.split("\t")[-1])
    for outcome in (event for event in aws.bus.events if event["source"] == BACKFILL_SOURCE):
        print(f"   → the default event bus: '{outcome['detail-type']}' ({outcome['source']}): {outcome['detail']}")
    return str(data_set["Id"])


def _publish_revision(aws: OfflineAws, data_set_id: str, assets: Sequence[str], fail: str | None) -> None:
    publication = aws.dataexchange.publish(data_set_id, assets, fail)
    _step(f"The provider publishes revision {publication.revision['Id']} to data set {data_set_id}")
    for job in publication.jobs:
        details = job["Details"]["ExportRevisionsToS3"]
        print(f"   auto-export job {job['Id']} of {details['EventActionArn']}: {job['State']}")
        for error in job["Errors"]:
            print(f"      {error['Code']}: {error['Message']}")
        for written in publication.objects.get(job["Id"], []):
            print(f"      wrote {written}")
    for event in publication.events:
        _step(f"Data Exchange sends '{event['detail-type']}' ({event['source']}) to the default event bus")
        matched = aws.bus.matches[event["id"]]
        if not matched:
            print("   no rule of the stack matches it")
        for rule in matched:
            deliveries = [d for d in aws.bus.deliveries if d.rule == rule and d.event_id == event["id"]]
            print(f"   rule {rule} matches ({len(deliveries) or 'no'} target(s))")
            for delivery in deliveries:
                print(f"   → {delivery.target.arn} receives:\n\n{delivery.message}\n")


def _status(arguments: argparse.Namespace) -> None:
    state = StackState.load(arguments.state_dir / "stack.json")
    if state is None:
        print(f"{STACK_NAME} (offline) does not exist")
    else:
        print(f"{STACK_NAME} (offline): {state.stack_id}")
        for logical_id, resource in state.resources.items():
            print(f"  {logical_id} {resource.resource_type} {resource.physical_id}")
    actions = DataExchangeEndpoint(state_file=arguments.state_dir / DATAEXCHANGE_STATE_FILE).event_actions()
    print(f"Local endpoint: {len(actions)} event action(s)")
    for action in actions:
        print(f"  {action['Id']} data set {action['Event']['RevisionPublished']['DataSetId']}")


if __name__ == "__main__":
    sys.exit(main())
