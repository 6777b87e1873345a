"""The handler's functions, called with a real boto3 client over HTTP to the local endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, Fault, local_client
from dataexchange_auto_export_handler import event_actions
from dataexchange_auto_export_handler.clients import RETRY_CONFIG
from dataexchange_auto_export_handler.contract import LOGICAL_ID_TAG, STACK_ID_TAG
from dataexchange_auto_export_handler.event_actions import EventActionError, Owner
from dataexchange_auto_export_handler.properties import EventActionProperties
from dataexchange_auto_export_handler.rules import DEFAULT_KEY_PATTERN

DATA_SET = "8d494cba5e4720172a1e69a6e1b8fed5"
OTHER_DATA_SET = "aaaaaaaaaabbbbbbbbbbcccccccccc12"
OWNER = Owner("arn:aws:cloudformation:us-east-1:123456789012:stack/S/1", "Export")
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def client(endpoint: DataExchangeEndpoint) -> Any:
    # The handler's own retry configuration, so its retry behaviour is what is tested.
    return local_client(endpoint.url, config=RETRY_CONFIG)


def properties(**overrides: Any) -> EventActionProperties:
    raw = {"DataSetId": DATA_SET, "Bucket": "destination-bucket", **overrides}
    return EventActionProperties.from_properties(raw)


def operations(endpoint: DataExchangeEndpoint) -> list[str]:
    return [call.operation for call in endpoint.calls]


def test_create_sends_the_whole_action_with_sse_s3_and_the_default_key_pattern(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    event_action = event_actions.create_event_action(client, properties(), OWNER)

    [stored] = endpoint.event_actions()
    assert stored["Id"] == event_action.id
    assert stored["Action"] == {
        "ExportRevisionToS3": {
            "Encryption": {"Type": "AES256"},
            "RevisionDestination": {"Bucket": "destination-bucket", "KeyPattern": DEFAULT_KEY_PATTERN},
        }
    }


def test_create_with_a_kms_key_asks_for_sse_kms(client: Any, endpoint: DataExchangeEndpoint) -> None:
    event_actions.create_event_action(client, properties(KmsKeyArn=KEY_ARN), OWNER)

    [stored] = endpoint.event_actions()
    assert stored["Action"]["ExportRevisionToS3"]["Encryption"] == {"Type": "aws:kms", "KmsKeyArn": KEY_ARN}


def test_create_tags_the_event_action_with_its_owner_and_the_users_tags(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    event_actions.create_event_action(client, properties(Tags={"team": "market-data"}), OWNER)

    [stored] = endpoint.event_actions()
    assert stored["Tags"] == {
        "team": "market-data",
        STACK_ID_TAG: OWNER.stack_id,
        LOGICAL_ID_TAG: OWNER.logical_id,
    }


def test_create_returns_attributes_as_iso_strings(client: Any) -> None:
    data = event_actions.create_event_action(client, properties(), OWNER).data()

    assert set(data) == {"Arn", "Id", "CreatedAt", "UpdatedAt"}
    assert data["Arn"].endswith(f":event-actions/{data['Id']}")
    assert datetime.fromisoformat(data["CreatedAt"]).tzinfo is not None


def test_a_second_create_for_the_same_resource_adopts_the_first_event_action(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    first = event_actions.create_event_action(client, properties(), OWNER)

    second = event_actions.create_event_action(client, properties(), OWNER)

    assert second.id == first.id
    assert len(endpoint.event_actions()) == 1


def test_create_leaves_another_resources_event_action_to_another_bucket_alone(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    other = event_actions.create_event_action(client, properties(Bucket="other-bucket"), Owner(OWNER.stack_id, "B"))

    mine = event_actions.create_event_action(client, properties(), OWNER)

    assert mine.id != other.id
    assert len(endpoint.event_actions()) == 2


def test_create_refuses_to_duplicate_another_resources_export(client: Any, endpoint: DataExchangeEndpoint) -> None:
    other = event_actions.create_event_action(client, properties(), Owner(OWNER.stack_id, "OtherExport"))

    with pytest.raises(EventActionError, match=rf"^Event action {other.id} already exports data set {DATA_SET}"):
        event_actions.create_event_action(client, properties(), OWNER)

    assert [item["Id"] for item in endpoint.event_actions()] == [other.id]


def test_adoption_brings_the_found_event_action_in_line_with_the_properties(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given an event action left by an earlier attempt with other settings
    event_actions.create_event_action(client, properties(Tags={"old": "1"}), OWNER)

    # When Create runs again with new settings
    event_actions.create_event_action(client, properties(KeyPattern="${Asset.Id}", Tags={"new": "2"}), OWNER)

    # Then the one event action has them
    [stored] = endpoint.event_actions()
    assert stored["Action"]["ExportRevisionToS3"]["RevisionDestination"]["KeyPattern"] == "${Asset.Id}"
    assert "old" not in stored["Tags"]
    assert stored["Tags"]["new"] == "2"


def test_update_in_place_changes_action_and_tags_but_keeps_the_id(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = event_actions.create_event_action(client, properties(Tags={"a": "1", "b": "2"}), OWNER)
    endpoint_calls_before = len(endpoint.calls)

    updated = event_actions.update_event_action(
        client,
        created.id,
        properties(Bucket="another-bucket", KmsKeyArn=KEY_ARN, Tags={"b": "3", "c": "4"}),
        DATA_SET,
        OWNER,
    )

    assert updated.id == created.id
    [stored] = endpoint.event_actions()
    assert stored["Action"]["ExportRevisionToS3"] == {
        "Encryption": {"Type": "aws:kms", "KmsKeyArn": KEY_ARN},
        "RevisionDestination": {"Bucket": "another-bucket", "KeyPattern": DEFAULT_KEY_PATTERN},
    }
    assert {key: value for key, value in stored["Tags"].items() if ":" not in key} == {"b": "3", "c": "4"}
    assert operations(endpoint)[endpoint_calls_before:] == [
        "GetEventAction",
        "UpdateEventAction",
        "UntagResource",
        "TagResource",
    ]


def test_update_without_changes_makes_no_write_call(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = event_actions.create_event_action(client, properties(), OWNER)
    before = len(endpoint.calls)

    event_actions.update_event_action(client, created.id, properties(), DATA_SET, OWNER)

    assert operations(endpoint)[before:] == ["GetEventAction"]


def test_update_to_another_data_set_creates_a_replacement(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = event_actions.create_event_action(client, properties(), OWNER)

    replacement = event_actions.update_event_action(
        client, created.id, properties(DataSetId=OTHER_DATA_SET), DATA_SET, OWNER
    )

    assert replacement.id != created.id
    # The old one stays until CloudFormation's cleanup Delete.
    assert {item["Id"] for item in endpoint.event_actions()} == {created.id, replacement.id}


def test_update_recreates_an_event_action_deleted_out_of_band(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = event_actions.create_event_action(client, properties(), OWNER)
    client.delete_event_action(EventActionId=created.id)

    recreated = event_actions.update_event_action(client, created.id, properties(), DATA_SET, OWNER)

    assert recreated.id != created.id
    assert [item["Id"] for item in endpoint.event_actions()] == [recreated.id]


def test_delete_removes_the_event_action(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = event_actions.create_event_action(client, properties(), OWNER)

    event_actions.delete_event_action(client, created.id)

    assert endpoint.event_actions() == []


def test_delete_treats_missing_event_action_as_success(client: Any, endpoint: DataExchangeEndpoint) -> None:
    event_actions.delete_event_action(client, "0123456789abcdef0123456789abcdef")

    assert [(call.operation, call.status) for call in endpoint.calls] == [("DeleteEventAction", 404)]


def test_delete_of_an_id_crhelper_invented_calls_nothing(client: Any, endpoint: DataExchangeEndpoint) -> None:
    event_actions.delete_event_action(client, "DataExchangeAutoExport_AutoExportD8DF554C_K7ZQ2XJ1")

    assert endpoint.calls == []


def test_delete_reports_other_errors(client: Any, endpoint: DataExchangeEndpoint) -> None:
    endpoint.inject("DeleteEventAction", Fault("access_denied"))

    with pytest.raises(EventActionError) as raised:
        event_actions.delete_event_action(client, "0123456789abcdef0123456789abcdef")

    assert str(raised.value) == (
        "DeleteEventAction: access denied; the handler role needs dataexchange:DeleteEventAction. "
        "User is not authorized to perform dataexchange:DeleteEventAction (injected)"
    )


@pytest.mark.usefixtures("no_retry_sleep")
def test_throttling_is_retried_by_the_client_configuration(client: Any, endpoint: DataExchangeEndpoint) -> None:
    endpoint.inject("CreateEventAction", Fault("throttle", count=3))

    event_actions.create_event_action(client, properties(), OWNER)

    assert [call.status for call in endpoint.calls if call.operation == "CreateEventAction"] == [429, 429, 429, 201]


@pytest.mark.usefixtures("no_retry_sleep")
def test_persistent_throttling_fails_with_the_attempt_count(client: Any, endpoint: DataExchangeEndpoint) -> None:
    endpoint.inject("ListEventActions", Fault("throttle", count=6))

    with pytest.raises(EventActionError) as raised:
        event_actions.create_event_action(client, properties(), OWNER)

    assert str(raised.value) == (
        "ListEventActions: ThrottlingException after 6 attempts; retry the deployment later. Rate exceeded (injected)"
    )


def test_a_long_service_message_is_cut_so_the_cause_survives(client: Any, endpoint: DataExchangeEndpoint) -> None:
    endpoint.inject("CreateEventAction", Fault("validation", exception_cause="S3AccessDenied"))

    with pytest.raises(EventActionError) as raised:
        event_actions.create_event_action(client, properties(), OWNER)

    reason = str(raised.value)
    assert reason.startswith("CreateEventAction: Data Exchange cannot write to bucket destination-bucket")
    assert len(reason) <= event_actions.MAX_REASON_LENGTH


OTHER_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"


def test_update_of_the_encryption_key_alone_updates_the_action(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = event_actions.create_event_action(client, properties(KmsKeyArn=KEY_ARN), OWNER)

    event_actions.update_event_action(client, created.id, properties(KmsKeyArn=OTHER_KEY_ARN), DATA_SET, OWNER)

    [stored] = endpoint.event_actions()
    assert stored["Action"]["ExportRevisionToS3"]["Encryption"] == {"Type": "aws:kms", "KmsKeyArn": OTHER_KEY_ARN}
    assert operations(endpoint).count("UpdateEventAction") == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            Fault("access_denied"),
            "GetEventAction: access denied; the handler role needs dataexchange:GetEventAction. "
            "User is not authorized to perform dataexchange:GetEventAction (injected)",
        ),
        (
            Fault("internal", count=6),
            "GetEventAction: InternalServerException after 6 attempts; retry the deployment later. "
            "Internal server error (injected)",
        ),
    ],
    ids=["access-denied", "persistent-5xx"],
)
@pytest.mark.usefixtures("no_retry_sleep")
def test_update_reports_an_event_action_it_cannot_read_instead_of_making_another(
    client: Any, endpoint: DataExchangeEndpoint, fault: Fault, reason: str
) -> None:
    created = event_actions.create_event_action(client, properties(), OWNER)
    endpoint.inject("GetEventAction", fault)

    with pytest.raises(EventActionError) as raised:
        event_actions.update_event_action(client, created.id, properties(KeyPattern="${Asset.Id}"), DATA_SET, OWNER)

    assert str(raised.value) == reason
    assert operations(endpoint).count("CreateEventAction") == 1
    assert [item["Id"] for item in endpoint.event_actions()] == [created.id]


@pytest.mark.parametrize(
    ("operation", "fault", "kms", "reason"),
    [
        (
            "CreateEventAction",
            Fault("access_denied"),
            True,
            "CreateEventAction: access denied; the handler role needs dataexchange:CreateEventAction and "
            "kms:CreateGrant on the key. User is not authorized to perform dataexchange:CreateEventAction (injected)",
        ),
        (
            "CreateEventAction",
            Fault("validation", exception_cause="InsufficientS3BucketPolicy"),
            False,
            "CreateEventAction: bucket destination-bucket has no policy letting dataexchange.amazonaws.com "
            "s3:PutObject (InsufficientS3BucketPolicy). Request rejected by the service (injected)",
        ),
        (
            "CreateEventAction",
            Fault("validation", exception_cause="S3AccessDenied"),
            False,
            "CreateEventAction: Data Exchange cannot write to bucket destination-bucket (S3AccessDenied): check its "
            "policy, KMS key and that Requester Pays is off. Request rejected by the service (injected)",
        ),
        (
            "CreateEventAction",
            Fault("validation"),
            False,
            "CreateEventAction: ValidationException: Request rejected by the service (injected)",
        ),
        (
            "ListEventActions",
            Fault("not_found"),
            False,
            f"ListEventActions: data set {DATA_SET} not found in us-east-1. Deploy the stack in the Region where the "
            "provider published the data set (an event action lives in its data set's Region) and check that this "
            "account is subscribed to it...",
        ),
        (
            "CreateEventAction",
            Fault("conflict"),
            False,
            "CreateEventAction: ConflictException: The request conflicts with the resource's current state (injected)",
        ),
    ],
    ids=["access-denied-with-a-key", "bucket-policy", "s3-access-denied", "other-validation", "no-data-set", "other"],
)
def test_a_service_error_is_explained_in_full(
    client: Any, endpoint: DataExchangeEndpoint, operation: str, fault: Fault, kms: bool, reason: str
) -> None:
    endpoint.inject(operation, fault)

    with pytest.raises(EventActionError) as raised:
        event_actions.create_event_action(client, properties(**({"KmsKeyArn": KEY_ARN} if kms else {})), OWNER)

    assert str(raised.value) == reason
    assert len(reason) <= event_actions.MAX_REASON_LENGTH


def test_the_quota_of_event_actions_per_data_set_is_explained_with_its_name_and_value(client: Any) -> None:
    for number in range(5):
        other = Owner(OWNER.stack_id, f"Other{number}")
        event_actions.create_event_action(client, properties(Bucket=f"bucket-{number}"), other)

    with pytest.raises(EventActionError) as raised:
        event_actions.create_event_action(client, properties(), OWNER)

    assert str(raised.value) == (
        "CreateEventAction: quota 'Auto export event actions per data set' (5) reached; delete an unused event "
        f"action or request a quota increase. Data set {DATA_SET} already has 5 auto-export event actions"
    )


def test_a_quota_refusal_without_the_quotas_name_and_value_is_still_explained_as_a_quota(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given a ServiceLimitExceededException with neither LimitName nor LimitValue (both optional in the API model)
    endpoint.inject("CreateEventAction", Fault("quota"))

    with pytest.raises(EventActionError) as raised:
        event_actions.create_event_action(client, properties(), OWNER)

    assert str(raised.value) == (
        "CreateEventAction: an unnamed quota reached; delete an unused event action or request a quota increase. "
        "A service quota was exceeded (injected)"
    )


@pytest.mark.parametrize(
    "endpoint", [{"answers": "defaults left out"}, {"answers": "defaults filled in"}], indirect=True, ids=str
)
@pytest.mark.parametrize("key", [None, KEY_ARN], ids=["sse-s3", "sse-kms"])
def test_an_answer_with_defaults_left_out_or_filled_in_is_no_change(
    client: Any, endpoint: DataExchangeEndpoint, key: str | None
) -> None:
    wanted = properties(**({"KmsKeyArn": key} if key else {}))
    created = event_actions.create_event_action(client, wanted, OWNER)
    before = len(endpoint.calls)

    event_actions.update_event_action(client, created.id, wanted, DATA_SET, OWNER)

    assert operations(endpoint)[before:] == ["GetEventAction"]


def made_elsewhere(client: Any, **tags: str) -> str:
    """An event action as the console makes it: no KeyPattern, no Encryption."""
    created = client.create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "destination-bucket"}}},
        Event={"RevisionPublished": {"DataSetId": DATA_SET}},
        Tags=tags,
    )
    return str(created["Id"])


def test_adopt_existing_takes_an_equivalent_event_action_and_tags_it_as_its_own(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    existing = made_elsewhere(client, **{"made-by": "console"})
    before = len(endpoint.calls)

    adopted = event_actions.create_event_action(client, properties(AdoptExisting="true"), OWNER)

    [stored] = endpoint.event_actions()
    assert adopted.id == stored["Id"] == existing
    assert stored["Tags"] == {STACK_ID_TAG: OWNER.stack_id, LOGICAL_ID_TAG: OWNER.logical_id}
    assert operations(endpoint)[before:] == ["ListEventActions", "GetEventAction", "UntagResource", "TagResource"]


def test_a_refused_duplicate_names_the_stack_that_made_it(client: Any) -> None:
    existing = made_elsewhere(client, **{STACK_ID_TAG: "stack/Other"})

    with pytest.raises(EventActionError) as raised:
        event_actions.create_event_action(client, properties(), OWNER)

    assert str(raised.value) == (
        f"Event action {existing} already exports data set {DATA_SET} to bucket destination-bucket (made by stack "
        "stack/Other): delete it, or set adopt_existing=True to manage it from this stack."
    )


@pytest.mark.parametrize("operation", ["UpdateEventAction", "UntagResource", "TagResource"])
def test_a_failed_write_of_an_update_is_explained_with_its_operation(
    client: Any, endpoint: DataExchangeEndpoint, operation: str
) -> None:
    created = event_actions.create_event_action(client, properties(Tags={"a": "1"}), OWNER)
    endpoint.inject(operation, Fault("access_denied"))

    with pytest.raises(EventActionError) as raised:
        event_actions.update_event_action(
            client, created.id, properties(KeyPattern="${Asset.Id}", Tags={"b": "2"}), DATA_SET, OWNER
        )

    assert str(raised.value) == (
        f"{operation}: access denied; the handler role needs dataexchange:{operation}. "
        f"User is not authorized to perform dataexchange:{operation} (injected)"
    )


def test_a_refused_duplicate_made_without_tags_names_no_stack(client: Any) -> None:
    existing = made_elsewhere(client)

    with pytest.raises(EventActionError) as raised:
        event_actions.create_event_action(client, properties(), OWNER)

    assert str(raised.value) == (
        f"Event action {existing} already exports data set {DATA_SET} to bucket destination-bucket: delete it, "
        "or set adopt_existing=True to manage it from this stack."
    )


@pytest.mark.parametrize(
    "elsewhere",
    [{"Bucket": "other-bucket"}, {"Bucket": "destination-bucket", "KeyPattern": "${Revision.Id}/${Asset.Name}"}],
    ids=["another-bucket", "another-key-pattern"],
)
def test_create_leaves_an_untagged_event_action_exporting_elsewhere_alone(
    client: Any, endpoint: DataExchangeEndpoint, elsewhere: dict[str, str]
) -> None:
    # Given an event action made in the console, with no tags at all, exporting somewhere else
    other = client.create_event_action(
        Action={"ExportRevisionToS3": {"RevisionDestination": elsewhere}},
        Event={"RevisionPublished": {"DataSetId": DATA_SET}},
    )["Id"]

    mine = event_actions.create_event_action(client, properties(), OWNER)

    assert sorted(item["Id"] for item in endpoint.event_actions()) == sorted([other, mine.id])


def test_a_products_resource_does_not_take_another_products_event_action_for_its_own(client: Any) -> None:
    # Given the same stack and logical id owning an event action for another product (a product id changed)
    before = event_actions.create_event_action(client, properties(), Owner(OWNER.stack_id, "Product", "prod-a"))

    # Then the resource for the new product finds an export it does not own, and refuses to duplicate it
    with pytest.raises(EventActionError, match=rf"^Event action {before.id} already exports"):
        event_actions.create_event_action(client, properties(), Owner(OWNER.stack_id, "Product", "prod-b"))


OTHER_OWNER = Owner("arn:aws:cloudformation:us-east-1:123456789012:stack/Other/2", "Moved")


@pytest.mark.parametrize(
    ("tags", "stays"),
    [
        (OWNER.tags(), False),
        ({}, False),
        ({"team": "data"}, False),
        (OTHER_OWNER.tags(), True),
        ({STACK_ID_TAG: OTHER_OWNER.stack_id}, True),
        ({LOGICAL_ID_TAG: OTHER_OWNER.logical_id}, True),
    ],
    ids=["owned", "untagged", "no-owner-tags", "adopted-by-another", "another-stack-only", "another-logical-id-only"],
)
def test_a_resources_delete_leaves_only_an_event_action_another_resource_claims(
    client: Any, endpoint: DataExchangeEndpoint, tags: dict[str, str], stays: bool
) -> None:
    # Given the event action the resource made, whose tags say who owns it now
    existing = made_elsewhere(client, **tags)

    event_actions.delete_owned_event_action(client, existing, OWNER)

    assert [item["Id"] for item in endpoint.event_actions()] == ([existing] if stays else [])


def test_a_resources_delete_treats_a_missing_event_action_as_success(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    event_actions.delete_owned_event_action(client, "0123456789abcdef0123456789abcdef", OWNER)

    assert [(call.operation, call.status) for call in endpoint.calls] == [
        ("GetEventAction", 404),
        ("DeleteEventAction", 404),
    ]


def test_a_reason_of_the_longest_length_cloudformation_keeps_is_not_cut() -> None:
    longest = "x" * event_actions.MAX_REASON_LENGTH

    assert event_actions.shorten(longest) == longest
    assert event_actions.shorten(longest + "y") == "x" * (event_actions.MAX_REASON_LENGTH - 3) + "..."


def test_adopt_existing_takes_an_untagged_event_action_and_tags_it_as_its_own(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    existing = made_elsewhere(client)

    adopted = event_actions.create_event_action(client, properties(AdoptExisting="true"), OWNER)

    [stored] = endpoint.event_actions()
    assert (adopted.id, stored["Tags"]) == (existing, OWNER.tags())


def test_an_update_the_bucket_policy_refuses_names_the_bucket(client: Any, endpoint: DataExchangeEndpoint) -> None:
    created = event_actions.create_event_action(client, properties(), OWNER)
    endpoint.inject("UpdateEventAction", Fault("validation", exception_cause="InsufficientS3BucketPolicy"))

    with pytest.raises(EventActionError) as raised:
        event_actions.update_event_action(client, created.id, properties(Bucket="new-bucket"), DATA_SET, OWNER)

    assert str(raised.value).startswith("UpdateEventAction: bucket new-bucket has no policy letting")
