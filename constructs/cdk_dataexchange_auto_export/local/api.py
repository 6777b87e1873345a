"""`LocalDataExchange`: one stack of a CDK app, deployed into a local AWS account (Data Exchange, CloudFormation's
part, Lambda and EventBridge's default bus), for the user's own tests and for `dataexchange-local`.

Everything lives in a state folder and survives between instances and commands: the cloud assembly last deployed
(`cdk.out/`), the stack (`stack.json`), Data Exchange (`dataexchange.json`), the objects its exports wrote
(`s3/BUCKET/KEY`) and the events that reached the stack's rules (`events.json`). Every method returns plain data.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

from dataexchange_auto_export_handler.contract import (
    EVENT_SOURCE,
    LOGICAL_ID_TAG,
    PRODUCT_RESOURCE_TYPE,
    STACK_ID_TAG,
    DetailType,
    Property,
)

from .assembly import SynthesizedStack
from .aws import DATAEXCHANGE_STATE_FILE, S3_DIR, OfflineAws
from .cloudformation import Invocation, OfflineCloudFormation, StackState
from .endpoints import DataExchangeEndpoint
from .endpoints.dataexchange_jobs import FAILURES
from .endpoints.dataexchange_rules import DEFAULT_EVENT_ACTION_KEY_PATTERN
from .errors import LocalError
from .files import write_atomically
from .seeding import named_by, seed
from .synth import app_of, choose_stack, context_of, synthesize

DEFAULT_STATE_DIR = Path(".dataexchange-local")
# What a provider publishes when nobody says which assets.
DEFAULT_ASSETS = ("prices/daily.csv", "reference/instruments.csv")
DEFAULT_REVISIONS = 3
DEFAULT_FAILURE = "S3AccessDenied"
ASSEMBLY_DIR = "cdk.out"
STACK_STATE_FILE = "stack.json"
EVENTS_FILE = "events.json"
# How many of the newest jobs `status` shows.
RECENT_JOBS = 20


class _Mark(NamedTuple):
    """How far the bus, Lambda and the buckets had got when a method started."""

    events: int
    deliveries: int
    invocations: int
    objects: dict[str, int]


@dataclass(frozen=True)
class Activity:
    """What happened in the local account while a method ran, asynchronous invocations included."""

    events: list[dict[str, Any]]  # every event put on the default bus, oldest first
    rules: dict[str, list[str]]  # event id -> the rules of the stack it matched
    deliveries: list[dict[str, str]]  # what each target of a matching rule got: EventId, Rule, Target, Input
    objects: list[str]  # s3://BUCKET/KEY written, or written again
    logs: list[str]  # what the functions invoked asynchronously (the backfill worker, a product's reconcile) logged


@dataclass(frozen=True)
class Request:
    """One request CloudFormation delivered to a custom resource's function, and its answer."""

    request_type: str
    resource_type: str
    logical_id: str
    status: str
    physical_id: str
    seconds: float


@dataclass(frozen=True)
class Deployed:
    stack: str
    created: bool  # False: an update
    synthesized: str  # the command that ran, or the cloud assembly read
    warnings: list[str]  # the stack's warning annotations, as the CDK CLI prints them
    entitled: list[dict[str, Any]]  # data sets entitled on first use: Id, Name, AssetType, ProductId, Revisions
    requests: list[Request]
    outputs: dict[str, str]
    activity: Activity
    seconds: float


@dataclass(frozen=True)
class Published:
    data_set_id: str
    revision_id: str
    jobs: list[dict[str, Any]]  # the auto-export jobs the revision started, as `jobs()` shows them
    activity: Activity
    added: dict[str, Any] | None = None  # the data set the provider added to a product first, if it did


@dataclass(frozen=True)
class Drifted:
    """What the stack's daily schedules found: each drift report's detail (Drift, ConstructPath, LogicalResourceId,
    DataSetId, EventActionId, Expected, Found, RepairCommand, Restored, Reason...), and all they did."""

    reports: list[dict[str, Any]]
    activity: Activity


@dataclass(frozen=True)
class Destroyed:
    stack: str | None  # None: there was no stack to destroy
    requests: list[Request]


class LocalDataExchange:
    """A local AWS account for one stack of the CDK app in `app_dir` (default: the working folder), its state in
    `state_dir` (relative to `app_dir`). Deploy, publish and destroy inside `with`, which serves the local
    endpoints; what it holds can be read outside too. Functions run in `lambda_python` (default: this
    interpreter, whose environment has boto3 through the `local` extra), in `python -I` processes reused between
    invocations as Lambda reuses warm execution environments; none outlives the `with` block."""

    def __init__(
        self,
        state_dir: str | Path = DEFAULT_STATE_DIR,
        *,
        app_dir: str | Path | None = None,
        lambda_python: str | Path | None = None,
    ) -> None:
        self.app_dir = Path(app_dir) if app_dir is not None else Path.cwd()
        self.state_dir = self.app_dir / state_dir
        self.lambda_python = Path(lambda_python) if lambda_python is not None else Path(sys.executable)
        self._aws: OfflineAws | None = None

    def __enter__(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._aws = OfflineAws(state_dir=self.state_dir).__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._aws is not None:
            self._aws.__exit__(exc_type, exc, traceback)
            self._aws = None

    # --- what the methods change ----------------------------------------------------------------------

    def deploy(
        self,
        app: str | None = None,
        stack: str | None = None,
        *,
        context: Mapping[str, Any] | None = None,
        revisions: int = DEFAULT_REVISIONS,
        outputs_file: str | Path | None = None,
    ) -> Deployed:
        """Synthesizes the app (a command, default cdk.json's `app`, or a cloud assembly folder) with `context` over
        cdk.json's, and creates or updates `stack` (default: the only one holding our resources). Data sets and
        products it names are entitled first, each exportable data set with `revisions` finalized revisions."""
        aws = self._running()
        started = time.perf_counter()
        state = self._stack_state()
        assembly_dir = self.state_dir / ASSEMBLY_DIR
        with tempfile.TemporaryDirectory(prefix=".synth-", dir=self.state_dir) as staging:
            command = app_of(self.app_dir, app)
            synthesized = synthesize(command, self.app_dir, Path(staging), context_of(self.app_dir, context or {}))
            chosen = choose_stack(synthesized, stack)
            if state is not None and state.stack_name != chosen.stack_name:
                raise LocalError(
                    f"The state folder {self.state_dir} holds stack {state.stack_name}, not {chosen.stack_name}: "
                    "destroy it first, or pass another state folder"
                )
            # Merged into the folder, not in place of it: a function the new template removes is still deleted
            # through its asset, as CloudFormation's cleanup does.
            if synthesized.resolve() != assembly_dir.resolve():
                shutil.copytree(synthesized, assembly_dir, dirs_exist_ok=True)
        deployed = SynthesizedStack(assembly_dir, chosen.stack_name)
        cloudformation = self._serve(deployed)
        entitled = seed(aws.dataexchange, *named_by(cloudformation), revisions)
        mark = self._mark()
        try:
            with cloudformation:
                outputs = cloudformation.deploy()
        finally:
            activity = self._since(mark)
        if outputs_file is not None:
            write_atomically(self.app_dir / outputs_file, json.dumps({deployed.stack_name: outputs}, indent=2) + "\n")
        return Deployed(
            deployed.stack_name,
            state is None,
            command,
            deployed.messages("Warning"),
            entitled,
            _requests(cloudformation.invocations),
            outputs,
            activity,
            time.perf_counter() - started,
        )

    def publish(
        self, data_set_id: str | None = None, assets: Sequence[str] = DEFAULT_ASSETS, *, fail: str | None = None
    ) -> Published:
        """A provider publishes a revision of `assets` to a data set the stack exports (default: the only one): each
        event action exports it (or fails to, for `fail`: S3AccessDenied, KmsKeyDisabled, QuotaExceeded or
        MalwareDetected), and Data Exchange's events reach the stack's rules."""
        _check_failure(fail)
        state = self._serve_deployed("publish to")
        exported = self.exported_data_sets()
        listed = ", ".join(exported) or "none"
        if data_set_id is None:
            if len(exported) != 1:
                raise LocalError(f"Which data set? Stack {state.stack_name} exports {listed}")
            data_set_id = exported[0]
        if data_set_id not in exported:
            raise LocalError(f"Stack {state.stack_name} does not export data set {data_set_id}: it exports {listed}")
        mark = self._mark()
        try:
            revision_id, jobs = self._publish(data_set_id, assets, fail)
        finally:
            activity = self._since(mark)
        return Published(data_set_id, revision_id, jobs, activity)

    def publish_new_data_set(
        self, product_id: str, assets: Sequence[str] = DEFAULT_ASSETS, *, fail: str | None = None
    ) -> Published:
        """The provider adds a data set to a product the stack follows and Data Exchange says so on the bus (the
        stack's rule reconciles the product); then a revision of `assets` is published to it."""
        _check_failure(fail)
        aws = self._running()
        state = self._serve_deployed("publish to")
        followed = self.followed_products()
        if product_id not in followed:
            raise LocalError(
                f"Stack {state.stack_name} follows no product {product_id}: it follows {', '.join(followed) or 'none'}"
            )
        known = aws.dataexchange.data_sets()
        of_product = [d for d in known if d.get("OriginDetails", {}).get("ProductId") == product_id]
        added = aws.dataexchange.add_data_set(product_id, f"Data set {len(of_product) + 1}")
        mark = self._mark()
        try:
            aws.dataexchange.publish_data_sets(product_id, [added["Id"]])
            # The reconcile the event starts makes the new data set's event action before anything is published.
            aws.lambda_.wait()
            revision_id, jobs = self._publish(added["Id"], assets, fail)
        finally:
            activity = self._since(mark)
        return Published(added["Id"], revision_id, jobs, activity, added)

    def check_drift(self) -> Drifted:
        """A day passes: every schedule of the stack comes due now, the providers' drift checks (which report) and the
        products' reconciles (which restore, and report what they restored)."""
        aws = self._running()
        self._serve_deployed("check")
        mark = self._mark()
        try:
            aws.bus.run_schedules()
        finally:
            activity = self._since(mark)
        reports = [
            event["detail"]
            for event in activity.events
            if (event["source"], event["detail-type"]) == (EVENT_SOURCE, DetailType.DRIFT_DETECTED)
        ]
        return Drifted(reports, activity)

    # --- behind the stack's back ----------------------------------------------------------------------

    def delete_event_action(self, event_action_id: str) -> None:
        """Someone deletes an event action outside the stack (the console, a script)."""
        self._dataexchange().delete_event_action(self._known(event_action_id))

    def change_event_action(
        self, event_action_id: str, *, bucket: str | None = None, key_pattern: str | None = None
    ) -> dict[str, Any]:
        """Someone points an event action elsewhere outside the stack: another bucket or key pattern. Returns it as
        `event_actions()` shows it."""
        endpoint = self._dataexchange()
        [current] = [item for item in endpoint.event_actions() if item["Id"] == self._known(event_action_id)]
        export = dict(current["Action"]["ExportRevisionToS3"])
        destination = {
            **export["RevisionDestination"],
            **({"Bucket": bucket} if bucket else {}),
            **({"KeyPattern": key_pattern} if key_pattern else {}),
        }
        changed = endpoint.change_event_action(
            event_action_id, {"ExportRevisionToS3": {**export, "RevisionDestination": destination}}
        )
        return _event_action(changed)

    def end_subscription(self, product_id: str) -> list[str]:
        """The account's subscription to a product ends: none of its data sets is entitled any longer. Returns them."""
        try:
            return self._dataexchange().end_subscription(product_id)
        except ValueError as error:
            raise LocalError(str(error)) from None

    def _known(self, event_action_id: str) -> str:
        known = [item["Id"] for item in self._dataexchange().event_actions()]
        if event_action_id not in known:
            raise LocalError(
                f"No event action {event_action_id}: the local Data Exchange has {', '.join(known) or 'none'}"
            )
        return event_action_id

    def destroy(self) -> Destroyed:
        """Deletes the stack's resources as CloudFormation would (retained ones stay) and forgets the stack."""
        self._running()
        state = self._stack_state()
        if state is None:
            return Destroyed(None, [])
        cloudformation = self._serve(self._assembly(state, "destroy"))
        mark = self._mark()
        try:
            with cloudformation:
                cloudformation.destroy()
        finally:
            self._since(mark)
        return Destroyed(state.stack_name, _requests(cloudformation.invocations))

    # --- what they hold ------------------------------------------------------------------------------

    def event_actions(self) -> list[dict[str, Any]]:
        """The local Data Exchange's event actions: Arn, Id, DataSetId, Bucket, KeyPattern (the service's default if
        none was sent), Encryption (or None), and the StackId and LogicalId of the stack resource that owns it."""
        return [_event_action(item) for item in self._dataexchange().event_actions()]

    def jobs(self) -> list[dict[str, Any]]:
        """Every export job, oldest first: Id, State, CreatedAt, DataSetId, RevisionId, EventActionArn (an
        auto-export's) and Errors (Code, Message)."""
        return [_job(job) for job in sorted(self._dataexchange().jobs(), key=lambda job: str(job["CreatedAt"]))]

    def objects(self) -> list[str]:
        """Every object the exports wrote, as s3://BUCKET/KEY, sorted."""
        return sorted(self._objects())

    def events(self) -> list[dict[str, Any]]:
        """The events that matched a rule of the stack, oldest first, as EventBridge delivered them."""
        return list(self._recorded()["events"])

    def deliveries(self) -> list[dict[str, str]]:
        """What each target of those rules received: EventId, Rule, Target (its ARN) and Input."""
        return list(self._recorded()["deliveries"])

    def exported_data_sets(self) -> list[str]:
        """The data sets that event actions of the deployed stack export."""
        state = self._stack_state()
        if state is None:
            return []
        owned = [action for action in self.event_actions() if action["StackId"] == state.stack_id]
        return list(dict.fromkeys(action["DataSetId"] for action in owned))

    def followed_products(self) -> list[str]:
        """The products the deployed stack's AutoExportProducts follow."""
        state = self._stack_state()
        resources = state.resources.values() if state is not None else []
        return [r.properties[Property.PRODUCT_ID] for r in resources if r.resource_type == PRODUCT_RESOURCE_TYPE]

    def status(self) -> dict[str, Any]:
        """All of it in one JSON-ready object: the stack (or None), event actions, recent jobs, objects, events and
        deliveries."""
        state = self._stack_state()
        stack = None
        if state is not None:
            resources = [
                {"LogicalId": key, "Type": resource.resource_type, "PhysicalId": resource.physical_id}
                for key, resource in state.resources.items()
            ]
            stack = {"Name": state.stack_name, "Id": state.stack_id, "Resources": resources, "Outputs": state.outputs}
        return {
            "state_dir": str(self.state_dir),
            "stack": stack,
            "event_actions": self.event_actions(),
            "jobs": self.jobs()[-RECENT_JOBS:],
            "objects": self.objects(),
            "events": self.events(),
            "deliveries": self.deliveries(),
        }

    # --- how ---------------------------------------------------------------------------------------------

    def _running(self) -> OfflineAws:
        if self._aws is None:
            raise LocalError("LocalDataExchange deploys, publishes and destroys only inside its `with` block")
        return self._aws

    def _dataexchange(self) -> DataExchangeEndpoint:
        """The running endpoint, or, outside `with`, its state as last saved."""
        if self._aws is not None:
            return self._aws.dataexchange
        return DataExchangeEndpoint(state_file=self.state_dir / DATAEXCHANGE_STATE_FILE)

    def _stack_state(self) -> StackState | None:
        return StackState.load(self.state_dir / STACK_STATE_FILE)

    def _assembly(self, state: StackState, then: str) -> SynthesizedStack:
        assembly_dir = self.state_dir / ASSEMBLY_DIR
        if not (assembly_dir / "manifest.json").is_file():
            raise LocalError(f"The cloud assembly in {assembly_dir} is gone: deploy once more, then {then}")
        return SynthesizedStack(assembly_dir, state.stack_name)

    def _serve(self, stack: SynthesizedStack) -> OfflineCloudFormation:
        """CloudFormation for the stack, whose functions Lambda serves and whose rules the bus holds."""
        aws = self._running()
        return aws.cloudformation(stack, self.state_dir / STACK_STATE_FILE, aws.runtime(self.lambda_python))

    def _serve_deployed(self, then: str) -> StackState:
        state = self._stack_state()
        if state is None:
            raise LocalError(f"No stack is deployed in {self.state_dir}: deploy first, then {then} it")
        self._serve(self._assembly(state, then))
        return state

    def _publish(self, data_set_id: str, assets: Sequence[str], fail: str | None) -> tuple[str, list[dict[str, Any]]]:
        publication = self._running().dataexchange.publish(data_set_id, list(assets), fail)
        return publication.revision["Id"], [_job(job) for job in publication.jobs]

    def _mark(self) -> _Mark:
        aws = self._running()
        return _Mark(len(aws.bus.events), len(aws.bus.deliveries), len(aws.lambda_.invocations), self._objects())

    def _objects(self) -> dict[str, int]:
        """s3://BUCKET/KEY -> when it was last written."""
        root = self.state_dir / S3_DIR
        return {
            f"s3://{path.relative_to(root).as_posix()}": path.stat().st_mtime_ns
            for path in root.rglob("*")
            if path.is_file()
        }

    def _since(self, mark: _Mark) -> Activity:
        """What happened since `mark`, once every asynchronous invocation has ended; the events that matched a rule
        are recorded in the state folder."""
        aws = self._running()
        aws.lambda_.wait()
        events = aws.bus.events[mark.events :]
        rules = {event["id"]: list(aws.bus.matches.get(event["id"], [])) for event in events}
        deliveries = [
            {"EventId": d.event_id, "Rule": d.rule, "Target": d.target.arn, "Input": d.input}
            for d in aws.bus.deliveries[mark.deliveries :]
        ]
        written = [uri for uri, stamp in self._objects().items() if mark.objects.get(uri) != stamp]
        logs = [
            line
            for invocation in aws.lambda_.invocations[mark.invocations :]
            for line in _log_lines(invocation.execution.output if invocation.execution else invocation.error or "")
        ]
        recorded = self._recorded()
        recorded["events"] += [event for event in events if rules[event["id"]]]
        recorded["deliveries"] += deliveries
        write_atomically(self.state_dir / EVENTS_FILE, json.dumps(recorded, indent=2))
        return Activity(events, rules, deliveries, sorted(written), logs)

    def _recorded(self) -> dict[str, list[Any]]:
        path = self.state_dir / EVENTS_FILE
        recorded: dict[str, list[Any]] = json.loads(path.read_text()) if path.is_file() else {}
        return {"events": recorded.get("events", []), "deliveries": recorded.get("deliveries", [])}


def _check_failure(fail: str | None) -> None:
    if fail is not None and fail not in FAILURES:
        raise LocalError(f"Unknown failure {fail}: expected one of {', '.join(sorted(FAILURES))}")


def _requests(invocations: Sequence[Invocation]) -> list[Request]:
    return [
        Request(
            invocation.request["RequestType"],
            invocation.request["ResourceType"],
            invocation.request["LogicalResourceId"],
            invocation.response["Status"],
            invocation.response["PhysicalResourceId"],
            invocation.execution.seconds,
        )
        for invocation in invocations
    ]


def _log_lines(output: str) -> list[str]:
    """A function's log records, as the runtime's log format writes them ([LEVEL] time logger message): the
    message, after its level."""
    records = [line.split("\t") for line in output.splitlines() if line.startswith("[")]
    return [f"{fields[0]} {fields[-1]}" for fields in records if len(fields) >= 4]


def _event_action(item: Mapping[str, Any]) -> dict[str, Any]:
    export = item["Action"]["ExportRevisionToS3"]
    destination = export["RevisionDestination"]
    tags = item.get("Tags") or {}
    return {
        "Arn": item["Arn"],
        "Id": item["Id"],
        "DataSetId": item["Event"]["RevisionPublished"]["DataSetId"],
        "Bucket": destination["Bucket"],
        "KeyPattern": destination.get("KeyPattern", DEFAULT_EVENT_ACTION_KEY_PATTERN),
        "Encryption": export.get("Encryption"),
        "StackId": tags.get(STACK_ID_TAG),
        "LogicalId": tags.get(LOGICAL_ID_TAG),
    }


def _job(job: Mapping[str, Any]) -> dict[str, Any]:
    export = job["Details"].get("ExportRevisionsToS3", {})
    destinations = export.get("RevisionDestinations", [])
    return {
        "Id": job["Id"],
        "State": job["State"],
        "CreatedAt": job["CreatedAt"],
        "DataSetId": export.get("DataSetId"),
        "RevisionId": destinations[0]["RevisionId"] if destinations else None,
        "EventActionArn": export.get("EventActionArn"),
        "Errors": [{"Code": error["Code"], "Message": error["Message"]} for error in job.get("Errors") or []],
    }
