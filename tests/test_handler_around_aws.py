"""The handler's answers to what AWS does around it, in-process with a real boto3 client over HTTP to the local
endpoint: a twin from a lost answer, what a Delete with an id of CloudFormation's own removes, which requests
CloudFormation still waits for, and AccessDenied retried only within a request's window.
`test_around_the_handler.py` plays the same rules through the offline runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cdk_dataexchange_auto_export import EVENT_ACTION_RESOURCE_TYPE
from cdk_dataexchange_auto_export.local.assembly import SynthesizedStack
from cdk_dataexchange_auto_export.local.cloudformation import OfflineCloudFormation, ResourceState
from cdk_dataexchange_auto_export.local.cloudformation_api import LocalCloudFormation
from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault, local_client
from cdk_dataexchange_auto_export.local.endpoints.server import client as service_client
from cdk_dataexchange_auto_export.local.lambda_runtime import LambdaRuntime
from dataexchange_auto_export_handler import event_actions, stack
from dataexchange_auto_export_handler.clients import RETRY_CONFIG
from dataexchange_auto_export_handler.contract import Metadata
from dataexchange_auto_export_handler.event_actions import EventActionError, Owner
from dataexchange_auto_export_handler.propagation import MAX_DELAY_SECONDS, PropagationRetry
from dataexchange_auto_export_handler.properties import EventActionProperties
from dataexchange_auto_export_handler.stack import Deployed, StaleRequestError, check_awaited

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
OWNER = Owner("arn:aws:cloudformation:us-east-1:123456789012:stack/S/1", "Export")
OTHER_OWNER = Owner("arn:aws:cloudformation:us-east-1:123456789012:stack/S/1", "Other")
PROPERTIES = EventActionProperties.from_properties({"DataSetId": DATA_SET, "Bucket": "destination-bucket"})


@pytest.fixture
def client(endpoint: DataExchangeEndpoint) -> Any:
    return local_client(endpoint.url, config=RETRY_CONFIG)


def created(endpoint: DataExchangeEndpoint) -> list[str]:
    return [item["Id"] for item in endpoint.event_actions()]


def test_a_create_whose_answer_was_lost_keeps_the_first_event_action_and_deletes_the_twin(
    client: Any, endpoint: DataExchangeEndpoint, no_retry_sleep: None
) -> None:
    # Given the service makes the event action, then loses its answer: botocore sends the Create again
    endpoint.inject("CreateEventAction", Fault("lost_answer"))

    kept = event_actions.create_event_action(client, PROPERTIES, OWNER)

    # Then the first one made (the oldest) is kept, and the one whose answer came back is deleted
    first = next(call for call in endpoint.calls if call.operation == "CreateEventAction")
    assert first.status == 500
    assert created(endpoint) == [kept.id]
    assert [call.operation for call in endpoint.calls].count("DeleteEventAction") == 1


def test_of_two_event_actions_one_resource_made_every_run_keeps_the_oldest(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given two deliveries of one Create that ran at once: two event actions with the resource's tags
    made = [
        local_client(endpoint.url).create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "destination-bucket"}}},
            Event={"RevisionPublished": {"DataSetId": DATA_SET}},
            Tags=OWNER.tags(),
        )
        for _ in range(2)
    ]

    kept = event_actions.keep_oldest(client, PROPERTIES, OWNER)

    oldest = min(made, key=lambda item: (item["CreatedAt"], item["Id"]))
    assert kept is not None and kept.id == oldest["Id"]
    assert created(endpoint) == [oldest["Id"]]


def test_a_delete_with_an_id_of_cloudformations_own_removes_only_what_its_resource_made(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    mine = event_actions.create_event_action(client, PROPERTIES, OWNER)
    other = EventActionProperties.from_properties({"DataSetId": DATA_SET, "Bucket": "other-bucket"})
    theirs = event_actions.create_event_action(client, other, OTHER_OWNER)
    untagged = local_client(endpoint.url).create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "console-bucket"}}},
        Event={"RevisionPublished": {"DataSetId": DATA_SET}},
    )

    deleted = event_actions.delete_made_by(client, PROPERTIES, OWNER)

    assert deleted == [mine.id]
    assert created(endpoint) == [theirs.id, untagged["Id"]]


@pytest.mark.parametrize("endpoint", [{"list_lag": 1}], indirect=True, ids=["list-lags"])
def test_a_create_the_list_does_not_show_yet_answers_with_what_it_made(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    made = event_actions.create_event_action(client, PROPERTIES, OWNER)

    assert created(endpoint) == [made.id]


def test_a_delete_for_a_data_set_the_account_cannot_see_deletes_nothing(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    endpoint.inject("ListEventActions", Fault("not_found"))

    assert event_actions.delete_made_by(client, PROPERTIES, OWNER) == []


def deployed(status: str, physical_id: str = "current") -> Deployed:
    return Deployed("Export", physical_id, status, {}, "Stack/Export")


@pytest.mark.parametrize(
    ("request_type", "resource", "physical_id", "awaited"),
    [
        ("Create", deployed("CREATE_IN_PROGRESS", ""), None, True),
        ("Create", deployed("CREATE_COMPLETE"), None, False),  # answered already
        ("Create", deployed("DELETE_COMPLETE", "invented"), None, False),  # rolled back
        ("Create", None, None, False),  # rolled back, and gone from the stack
        ("Update", deployed("UPDATE_IN_PROGRESS"), "current", True),
        ("Update", deployed("UPDATE_COMPLETE"), "current", False),  # answered, or undone by a rollback
        ("Update", deployed("CREATE_COMPLETE"), "current", False),
        ("Delete", deployed("DELETE_IN_PROGRESS"), "current", True),
        ("Delete", deployed("UPDATE_COMPLETE"), "replaced", True),  # the cleanup of a replacement
        ("Delete", deployed("DELETE_IN_PROGRESS"), "cloudformations-own", True),  # a cancelled Create
        ("Delete", None, "current", True),  # removed by an update, deletes nothing twice
        ("Delete", deployed("DELETE_COMPLETE"), "current", True),  # deleted: deletes nothing
        ("Delete", deployed("UPDATE_COMPLETE"), "current", False),  # the stack holds it: must not go
        ("Delete", deployed("CREATE_COMPLETE"), "current", False),
        ("Delete", deployed("UPDATE_IN_PROGRESS"), "current", False),
    ],
)
def test_a_request_is_acted_on_only_while_cloudformation_waits_for_it(
    request_type: str, resource: Deployed | None, physical_id: str | None, awaited: bool
) -> None:
    if awaited:
        check_awaited(resource, request_type, "Export", physical_id)
        return
    status = resource.status if resource is not None else "gone from the stack"
    with pytest.raises(StaleRequestError) as refused:
        check_awaited(resource, request_type, "Export", physical_id)
    assert str(refused.value) == (
        f"the {request_type} of Export is no longer awaited: the resource is {status} (Lambda delivered the request "
        "again after CloudFormation had its answer or gave up on it)"
    )


def test_a_resource_is_read_back_with_its_status_and_what_the_construct_wrote(tmp_path: Path) -> None:
    # Given a stack whose resource is being updated, as CloudFormation's read API describes it
    logical_id = "Export"
    template = {
        "Resources": {
            logical_id: {"Type": EVENT_ACTION_RESOURCE_TYPE, "Properties": {}},
            "Bare": {"Type": EVENT_ACTION_RESOURCE_TYPE, "Properties": {}},
        }
    }
    (tmp_path / "Described.template.json").write_text(json.dumps(template))
    stack_artifact = {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Described.template.json"}}
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"Described": stack_artifact}}))
    described = SynthesizedStack(tmp_path, "Described")
    runner = OfflineCloudFormation(described, tmp_path / "stack.json", LambdaRuntime(Path("python"), {}))
    state = runner.state()
    metadata = {Metadata.CDK_PATH: "Described/Export", Metadata.KEY: {Metadata.PROPERTIES: {"Bucket": "b"}}}
    resource = ResourceState(EVENT_ACTION_RESOURCE_TYPE, "the-id", {}, {}, "UPDATE_IN_PROGRESS", metadata)
    state.resources[logical_id] = resource
    # ...and one being created, without an id yet nor Metadata of the construct's
    state.resources["Bare"] = ResourceState(EVENT_ACTION_RESOURCE_TYPE, "", {}, {}, "CREATE_IN_PROGRESS")
    state.save(runner.state_file)
    with LocalCloudFormation() as api:
        api.serve(runner)
        cloudformation = service_client("cloudformation", api.url)

        found = stack.deployed_resource(cloudformation, state.stack_id, logical_id)
        bare = stack.deployed_resource(cloudformation, state.stack_id, "Bare")
        gone = stack.deployed_resource(cloudformation, state.stack_id, "NoSuchResource")
        api.inject("DescribeStackResource", Fault("throttle", count=10))
        with pytest.raises(ClientError, match="Throttling"):
            stack.deployed_resource(cloudformation, state.stack_id, logical_id)

    assert found == Deployed(logical_id, "the-id", "UPDATE_IN_PROGRESS", {"Bucket": "b"}, "Described/Export")
    assert bare == Deployed("Bare", "", "CREATE_IN_PROGRESS", {}, "Bare")
    assert gone is None


class FakeTime:
    """A clock that botocore's sleeps move on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr("botocore.endpoint.time.sleep", fake.sleep)
    return fake


def test_access_denied_is_retried_within_a_requests_window_then_reported(
    endpoint: DataExchangeEndpoint, fake_time: FakeTime
) -> None:
    # Given a client whose AccessDenied is retried within a window, and a denial that lasts
    retry = PropagationRetry(clock=lambda: fake_time.now)
    client = local_client(endpoint.url, config=RETRY_CONFIG)
    retry.register(client)
    endpoint.inject("GetEventAction", Fault("access_denied", count=100))

    # When a request with 60 s left runs into it
    with retry.window(remaining_seconds=60), pytest.raises(client.exceptions.AccessDeniedException):
        client.get_event_action(EventActionId="a" * 32)

    # Then it was retried for 30 s (waits of 1, 2, 4, 8 s, then 8 s each, the last cut short), then reported
    assert fake_time.slept == [1, 2, 4, 8, MAX_DELAY_SECONDS, 7]
    assert sum(fake_time.slept) == 30


def test_access_denied_that_clears_is_ridden_out_and_one_outside_a_request_is_final(
    endpoint: DataExchangeEndpoint, fake_time: FakeTime
) -> None:
    retry = PropagationRetry(clock=lambda: fake_time.now)
    client = local_client(endpoint.url, config=RETRY_CONFIG)
    retry.register(client)
    endpoint.inject("ListEventActions", Fault("access_denied", count=2))
    with retry.window(remaining_seconds=60):
        assert event_actions.list_event_actions(client, PROPERTIES) == []
    assert fake_time.slept == [1, 2]

    # Outside a request's window (a reconcile after the deploy) the first denial is final
    endpoint.inject("ListEventActions", Fault("access_denied"))
    with pytest.raises(EventActionError, match="access denied"):
        event_actions.list_event_actions(client, PROPERTIES)
    assert fake_time.slept == [1, 2]


def test_access_denied_is_not_retried_into_the_last_twenty_seconds_of_an_invocation(
    endpoint: DataExchangeEndpoint, fake_time: FakeTime
) -> None:
    retry = PropagationRetry(clock=lambda: fake_time.now)
    client = local_client(endpoint.url, config=RETRY_CONFIG)
    retry.register(client)
    endpoint.inject("GetEventAction", Fault("access_denied", count=100))

    # 23.5 s left: 3.5 s of retries, the last wait cut short to fit
    with retry.window(remaining_seconds=23.5), pytest.raises(client.exceptions.AccessDeniedException):
        client.get_event_action(EventActionId="a" * 32)

    assert fake_time.slept == [1, 2, 0.5]


def test_access_denied_before_any_request_is_final(endpoint: DataExchangeEndpoint, fake_time: FakeTime) -> None:
    retry = PropagationRetry(clock=lambda: fake_time.now)
    client = local_client(endpoint.url, config=RETRY_CONFIG)
    retry.register(client)
    endpoint.inject("GetEventAction", Fault("access_denied"))

    with pytest.raises(client.exceptions.AccessDeniedException):
        client.get_event_action(EventActionId="a" * 32)

    assert fake_time.slept == []
