"""`dataexchange-local` (or `python -m cdk_dataexchange_auto_export.local`), run in a CDK app's folder: deploy its
stack of AutoExportEventActions and AutoExportProducts into a local AWS account, publish revisions to the data sets
it exports, see what landed and which rules fired, destroy it. A thin layer over `LocalDataExchange`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dataexchange_auto_export_handler.contract import EVENT_SOURCE

from .api import (
    DEFAULT_ASSETS,
    DEFAULT_FAILURE,
    DEFAULT_REVISIONS,
    DEFAULT_STATE_DIR,
    Activity,
    LocalDataExchange,
    Published,
    Request,
)
from .endpoints.dataexchange_jobs import FAILURES
from .errors import LocalError

PROG = "dataexchange-local"


def _parser(prog: str) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where the local account lives (default: %(default)s)"
    )
    common.add_argument(
        "--lambda-python",
        type=Path,
        help="the Python the functions run in, `python -I` processes reused as Lambda reuses warm ones; it needs boto3 "
        "(default: this one)",
    )
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a CDK app's Data Exchange auto-export stack against a local AWS account: no AWS account, "
        "no CDK CLI. Run it in the app's folder.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", parents=[common], help="create the stack, or update it to new settings")
    deploy.add_argument("--app", help="the app: a command, or a cloud assembly folder (default: cdk.json's app)")
    deploy.add_argument("--stack", help="the stack (default: the only one holding AutoExportEventActions or Products)")
    deploy.add_argument("--outputs-file", type=Path, help="write the stack's outputs here, as cdk deploy does")
    deploy.add_argument(
        "--revisions",
        type=int,
        default=DEFAULT_REVISIONS,
        metavar="N",
        help="finalized revisions each data set has when first entitled (default: %(default)s)",
    )
    deploy.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="context for the app, over cdk.json's (repeatable)",
    )
    publish = commands.add_parser(
        "publish", parents=[common], help="a provider publishes a revision: see it exported and the rules it fires"
    )
    target = publish.add_mutually_exclusive_group()
    target.add_argument("--data-set-id", help="a data set the stack exports (default: the only one)")
    target.add_argument("--product-id", help="a product the stack follows (with --new-data-set)")
    publish.add_argument(
        "--new-data-set",
        action="store_true",
        help="the provider first adds a data set to the product, then publishes to it",
    )
    publish.add_argument(
        "--asset",
        action="append",
        dest="assets",
        metavar="NAME",
        help=f"an asset of the revision (repeatable; default: {' '.join(DEFAULT_ASSETS)})",
    )
    publish.add_argument(
        "--fail",
        nargs="?",
        const=DEFAULT_FAILURE,
        choices=sorted(FAILURES),
        metavar="CAUSE",
        help=f"the export fails, for CAUSE: {', '.join(sorted(FAILURES))} (default: %(const)s)",
    )
    commands.add_parser(
        "check-drift",
        parents=[common],
        help="a day passes: the drift check and the products' reconciles run, and report what drifted",
    )
    status = commands.add_parser("status", parents=[common], help="the stack, event actions, jobs, objects and events")
    status.add_argument("--json", action="store_true", help="one JSON object")
    commands.add_parser("destroy", parents=[common], help="delete the stack's resources (retained ones stay)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    parser = _parser(prog)
    arguments = parser.parse_args(argv)
    local = LocalDataExchange(arguments.state_dir, lambda_python=arguments.lambda_python)
    try:
        if arguments.command == "status":
            _status(local, arguments.json)
            return 0
        with local:
            if arguments.command == "deploy":
                _deploy(local, arguments, prog, _context(parser, arguments.context))
            elif arguments.command == "publish":
                _publish(local, arguments)
            elif arguments.command == "check-drift":
                _check_drift(local, arguments, prog)
            else:
                _destroy(local)
    except LocalError as error:
        print(f"❌  {error}", file=sys.stderr)
        return 1
    return 0


def _context(parser: argparse.ArgumentParser, pairs: Sequence[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            parser.error(f"-c {pair}: expected KEY=VALUE")
        context[key] = value
    return context


def _step(text: str) -> None:
    print(f"» {text}", flush=True)


def _requests(requests: Sequence[Request]) -> None:
    for request in requests:
        print(
            f"   {request.request_type:<6} {request.resource_type} {request.logical_id}: {request.status} "
            f"({request.physical_id}, {request.seconds:.2f}s)"
        )


def _deploy(local: LocalDataExchange, arguments: argparse.Namespace, prog: str, context: dict[str, str]) -> None:
    shown = "".join(f" -c {key}={value}" for key, value in context.items())
    _step(f"Synthesizing the app{shown} and deploying it into the local account (state in {local.state_dir})")
    deployed = local.deploy(
        arguments.app,
        arguments.stack,
        context=context,
        revisions=arguments.revisions,
        outputs_file=arguments.outputs_file,
    )
    for warning in deployed.warnings:
        print(warning)
    if deployed.entitled:
        _step("The account is entitled to what the stack names; the provider published this before it existed:")
        for data_set in deployed.entitled:
            print(
                f"   {data_set['Id']} {data_set['Name']} ({data_set['AssetType']}, product {data_set['ProductId']}): "
                f"{len(data_set['Revisions'])} finalized revision(s)"
            )
    verb = "Created" if deployed.created else "Updated"
    _step(f"{verb} stack {deployed.stack} from {deployed.synthesized}: each request ran the handler's staged asset")
    _requests(deployed.requests)
    if not deployed.requests:
        print("   no change: every resource of ours is as deployed")
    _activity(deployed.activity)
    print(f"\n ✅  {deployed.stack} (local)\n\n✨  Deployment time: {deployed.seconds:.2f}s\n")
    print("Outputs:")
    for name, value in sorted(deployed.outputs.items()):
        print(f"{deployed.stack}.{name} = {value}")
    if arguments.outputs_file is not None:
        print(f"\nOutputs written to {arguments.outputs_file}")
    _next(local, prog, arguments)


def _next(local: LocalDataExchange, prog: str, arguments: argparse.Namespace) -> None:
    state = "" if arguments.state_dir == DEFAULT_STATE_DIR else f" --state-dir {arguments.state_dir}"
    lines = []
    for data_set_id in local.exported_data_sets()[:1]:
        lines += [
            f"  publish a revision:        {prog} publish{state} --data-set-id {data_set_id}",
            f"  ...whose export fails:     {prog} publish{state} --data-set-id {data_set_id} --fail",
        ]
    for product_id in local.followed_products()[:1]:
        lines.append(f"  a new data set of product: {prog} publish{state} --product-id {product_id} --new-data-set")
    lines += [
        f"  what landed, what fired:   {prog} status{state} [--json]",
        f"  a day's drift check:       {prog} check-drift{state}",
        f"  destroy:                   {prog} destroy{state}",
    ]
    print("\nNext:\n" + "\n".join(lines))


def _publish(local: LocalDataExchange, arguments: argparse.Namespace) -> None:
    assets = arguments.assets or DEFAULT_ASSETS
    if arguments.new_data_set:
        products = local.followed_products()
        product_id = arguments.product_id or (products[0] if len(products) == 1 else None)
        if product_id is None:
            raise LocalError(f"--new-data-set needs --product-id: one of {', '.join(products) or 'none followed'}")
        published = local.publish_new_data_set(product_id, assets, fail=arguments.fail)
        assert published.added is not None
        _step(f"The provider added data set {published.added['Id']} ({published.added['Name']}) to {product_id}")
    else:
        if arguments.product_id:
            raise LocalError("--product-id goes with --new-data-set; to publish to a data set, pass --data-set-id")
        published = local.publish(arguments.data_set_id, assets, fail=arguments.fail)
    _published(published, assets)


def _published(published: Published, assets: Sequence[str]) -> None:
    _step(
        f"The provider published revision {published.revision_id} to data set {published.data_set_id} "
        f"({', '.join(assets)})"
    )
    for job in published.jobs:
        print(f"   auto-export job {job['Id']} of {job['EventActionArn']}: {job['State']}")
        for error in job["Errors"]:
            print(f"      {error['Code']}: {error['Message']}")
    if not published.jobs:
        print("   no event action exports it")
    _activity(published.activity)


def _activity(activity: Activity) -> None:
    """What the asynchronous invocations logged, each event on the bus and what its rules did, and the objects
    written."""
    if activity.logs:
        _step("In the background, the functions logged:")
        for line in activity.logs:
            print(f"   {line}")
    for event in activity.events:
        _step(f"'{event['detail-type']}' ({event['source']}) on the default event bus")
        if event["source"] == EVENT_SOURCE:
            print(f"   {json.dumps(event['detail'])}")
        rules = activity.rules[event["id"]]
        if not rules:
            print("   no rule of the stack matches it")
        for rule in rules:
            deliveries = [d for d in activity.deliveries if d["EventId"] == event["id"] and d["Rule"] == rule]
            print(f"   rule {rule} matches ({len(deliveries) or 'no'} target(s))")
            for delivery in deliveries:
                print(_delivered(delivery))
    if activity.objects:
        _step(f"{len(activity.objects)} object(s) written:")
        for uri in activity.objects:
            print(f"   {uri}")


def _delivered(delivery: dict[str, str]) -> str:
    target = delivery["Target"]
    if target.split(":")[2:3] == ["lambda"]:
        return f"   → function {target.rsplit(':', 1)[-1]} is invoked with it"
    return f"   → {target} receives:\n\n{_message(delivery['Input'])}\n"


def _message(target_input: str) -> str:
    """A target's input as a person reads it: a JSON string's text, anything else as delivered."""
    try:
        decoded = json.loads(target_input)
    except ValueError:
        return target_input
    return decoded if isinstance(decoded, str) else target_input


def _check_drift(local: LocalDataExchange, arguments: argparse.Namespace, prog: str) -> None:
    drifted = local.check_drift()
    _step("A day passed: the drift check and the products' reconciles ran")
    for report in drifted.reports:
        print(f"   {report['Drift']}: {report['Reason']}")
        command = str(report["RepairCommand"])
        if " -c " in command and not report["Restored"]:
            state = "" if arguments.state_dir == DEFAULT_STATE_DIR else f" --state-dir {arguments.state_dir}"
            print(f"   offline: {prog} deploy{state} -c {command.split(' -c ', 1)[1]}")
    if not drifted.reports:
        print("   no drift: every event action is as the stack deployed it")
    _activity(drifted.activity)


def _destroy(local: LocalDataExchange) -> None:
    destroyed = local.destroy()
    if destroyed.stack is None:
        print(f"No stack is deployed in {local.state_dir}: nothing to destroy")
        return
    _step(f"Deleted stack {destroyed.stack}: each Delete ran the handler's staged asset")
    _requests(destroyed.requests)
    left = local.event_actions()
    print(f"\n ✅  {destroyed.stack} (local): destroyed; the local Data Exchange holds {len(left)} event action(s)")


def _status(local: LocalDataExchange, as_json: bool) -> None:
    status = local.status()
    if as_json:
        print(json.dumps(status, indent=2))
        return
    stack: dict[str, Any] | None = status["stack"]
    if stack is None:
        print(f"No stack is deployed in {status['state_dir']}")
    else:
        print(f"Stack {stack['Name']} ({stack['Id']}), state in {status['state_dir']}")
        for resource in stack["Resources"]:
            print(f"  {resource['LogicalId']} {resource['Type']} {resource['PhysicalId']}")
        for name, value in sorted(stack["Outputs"].items()):
            print(f"  {stack['Name']}.{name} = {value}")
    _listing(
        "Event actions",
        [
            f"{a['Id']}: data set {a['DataSetId']} → s3://{a['Bucket']}/{a['KeyPattern']} ({a['LogicalId'] or '-'})"
            for a in status["event_actions"]
        ],
    )
    _listing(
        "Recent jobs",
        [
            f"{job['Id']} {job['State']}: revision {job['RevisionId']} of data set {job['DataSetId']}"
            + "".join(f"; {error['Code']}: {error['Message']}" for error in job["Errors"])
            for job in status["jobs"]
        ],
    )
    _listing("Objects", status["objects"])
    targets: dict[str, list[str]] = {}
    for delivery in status["deliveries"]:
        targets.setdefault(delivery["EventId"], []).append(delivery["Target"])
    _listing(
        "Events that reached the stack's rules",
        [
            f"{event['time']} '{event['detail-type']}' ({event['source']})"
            + "".join(f" → {target}" for target in targets.get(event["id"], []))
            for event in status["events"]
        ],
    )


def _listing(title: str, lines: Sequence[str]) -> None:
    print(f"{title} ({len(lines)}):")
    for line in lines:
        print(f"  {line}")
