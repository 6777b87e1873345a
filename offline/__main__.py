"""`python -m offline`: deploy, update and destroy the example stack against a local Data Exchange.

The CDK CLI synthesizes app.py, the handler runs from the staged asset in a Lambda-like process,
and the event actions live in a local endpoint whose state survives between commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .assembly import AssemblyError, SynthesizedStack
from .cloudformation import LifecycleError, OfflineCloudFormation, StackState
from .endpoints import LocalDataExchange
from .lambda_runtime import LambdaRuntime
from .toolchain import LAMBDA_PYTHON, REPO

STACK_NAME = "DataExchangeAutoExport"
# Any well-formed id works against the local endpoint; this one is the README's example.
DEMO_DATA_SET_ID = "8d494cba5e4720172a1e69a6e1b8fed5"


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
    deploy.add_argument("--bucket-name", help="context bucketName: export to this existing bucket")
    deploy.add_argument("--key-pattern", help="context keyPattern, e.g. '${Revision.Id}/${Asset.Name}'")
    deploy.add_argument("--kms-key-arn", help="context kmsKeyArn: SSE-KMS with this key")
    deploy.add_argument(
        "--outputs-file", type=Path, default=REPO / "cdk-outputs.json", help="like cdk deploy --outputs-file"
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
        else:
            _status(arguments)
    except (AssemblyError, LifecycleError) as error:
        print(f"\n❌  {STACK_NAME} (offline): {error}", file=sys.stderr)
        return 1
    return 0


def _step(text: str) -> None:
    print(f"» {text}", flush=True)


def _endpoint(arguments: argparse.Namespace) -> LocalDataExchange:
    return LocalDataExchange(state_file=arguments.state_dir / "dataexchange.json")


def _cloudformation(
    arguments: argparse.Namespace, stack: SynthesizedStack, endpoint: LocalDataExchange
) -> OfflineCloudFormation:
    if not arguments.lambda_python.exists():
        raise LifecycleError(f"No Lambda-like Python at {arguments.lambda_python}: run `make setup` first")
    runtime = LambdaRuntime(arguments.lambda_python, {"AWS_ENDPOINT_URL_DATAEXCHANGE": endpoint.url})
    return OfflineCloudFormation(stack, arguments.state_dir / "stack.json", runtime)


def _synthesize(arguments: argparse.Namespace, context: dict[str, str]) -> SynthesizedStack:
    shown = " ".join(f"-c {key}={value}" for key, value in context.items())
    _step(f"Synthesizing app.py with the CDK CLI (npx cdk synth {shown})")
    return SynthesizedStack.synthesize(STACK_NAME, context, arguments.state_dir / "cdk.out")


def _deploy(arguments: argparse.Namespace) -> None:
    context = {"dataSetId": arguments.data_set_id}
    for key, value in (
        ("bucketName", arguments.bucket_name),
        ("keyPattern", arguments.key_pattern),
        ("kmsKeyArn", arguments.kms_key_arn),
    ):
        if value:
            context[key] = value
    started = time.perf_counter()
    stack = _synthesize(arguments, context)
    with _endpoint(arguments) as endpoint, _cloudformation(arguments, stack, endpoint) as cloudformation:
        _step(f"Local Data Exchange endpoint at {endpoint.url} (state in {arguments.state_dir}/dataexchange.json)")
        existing = StackState.load(cloudformation.state_file)
        verb = "Updating" if existing else "Creating"
        _step(f"{verb} stack {STACK_NAME}: invoking the handler from the staged asset")
        outputs = cloudformation.deploy()
    for invocation in cloudformation.invocations:
        request = invocation.request
        print(
            f"   {request['RequestType']:<6} {request['ResourceType']} {request['LogicalResourceId']}: "
            f"{invocation.response['Status']} ({invocation.response['PhysicalResourceId']}, "
            f"{invocation.execution.seconds:.2f}s)"
        )
    arguments.outputs_file.write_text(json.dumps({STACK_NAME: outputs}, indent=2) + "\n")
    print(f"\n ✅  {STACK_NAME} (offline)\n\n✨  Deployment time: {time.perf_counter() - started:.2f}s\n")
    print("Outputs:")
    for name, value in sorted(outputs.items()):
        print(f"{STACK_NAME}.{name} = {value}")
    print(f"\nOutputs written to {arguments.outputs_file}")
    print(
        "\nNext:\n"
        "  update in place:   .venv/bin/python -m offline deploy --key-pattern '${Revision.Id}/${Asset.Name}'\n"
        "  replace:           .venv/bin/python -m offline deploy --data-set-id <another 30-40 character id>\n"
        "  destroy:           .venv/bin/python -m offline destroy\n"
        "  deploy for real:   make cdk ARGS='deploy -c dataSetId=<entitled data set id>'\n"
        "                     (AWS credentials, a bootstrapped account and an entitled data set; see README)"
    )


def _destroy(arguments: argparse.Namespace) -> None:
    state_file = arguments.state_dir / "stack.json"
    if not state_file.exists():
        print(f"{STACK_NAME} (offline) does not exist: nothing to destroy")
        return
    stack_dir = arguments.state_dir / "cdk.out"
    if not (stack_dir / "manifest.json").exists():
        raise LifecycleError(f"The synthesized stack in {stack_dir} is gone: run deploy once more, then destroy")
    stack = SynthesizedStack(stack_dir, STACK_NAME)
    with _endpoint(arguments) as endpoint, _cloudformation(arguments, stack, endpoint) as cloudformation:
        _step(f"Deleting stack {STACK_NAME}: invoking the handler from the staged asset")
        cloudformation.destroy()
        remaining = len(endpoint.event_actions())
    print(f"\n ✅  {STACK_NAME} (offline): destroyed; the local endpoint holds {remaining} event action(s)")


def _status(arguments: argparse.Namespace) -> None:
    state = StackState.load(arguments.state_dir / "stack.json")
    if state is None:
        print(f"{STACK_NAME} (offline) does not exist")
    else:
        print(f"{STACK_NAME} (offline): {state.stack_id}")
        for logical_id, resource in state.resources.items():
            print(f"  {logical_id} {resource.resource_type} {resource.physical_id}")
    with _endpoint(arguments) as endpoint:
        actions = endpoint.event_actions()
    print(f"Local endpoint: {len(actions)} event action(s)")
    for action in actions:
        print(f"  {action['Id']} data set {action['Event']['RevisionPublished']['DataSetId']}")


if __name__ == "__main__":
    sys.exit(main())
