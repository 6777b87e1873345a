"""The local Data Exchange endpoint, exercised only through unmodified boto3 clients (and raw HTTP for routing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from cdk_dataexchange_auto_export.local.endpoints import Call, DataExchangeEndpoint, Fault, local_client
from cdk_dataexchange_auto_export.local.endpoints.protocol import Authorization
from tools.toolchain import REPO

# botocore's "max_attempts" counts retries after the first call; "total_max_attempts" counts every call.
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})


def outcomes(endpoint: DataExchangeEndpoint) -> list[tuple[str, int]]:
    return [(call.operation, call.status) for call in endpoint.calls]


def new_client(url: str, region: str = "us-east-1", config: Config = ONE_ATTEMPT) -> Any:
    return local_client(url, region=region, config=config)


def data_set_id() -> str:
    return uuid.uuid4().hex


def action(
    bucket: Any = "bucket-a", key_pattern: str | None = "${Revision.Id}/${Asset.Name}", **encryption: str
) -> Any:
    destination = {"Bucket": bucket} | ({"KeyPattern": key_pattern} if key_pattern is not None else {})
    export: dict[str, Any] = {"RevisionDestination": destination}
    if encryption:
        export["Encryption"] = encryption
    return {"ExportRevisionToS3": export}


def event(data_set: str) -> Any:
    return {"RevisionPublished": {"DataSetId": data_set}}


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> Any:
    return raised.value.response


@pytest.fixture
def client(endpoint: DataExchangeEndpoint) -> Any:
    return new_client(endpoint.url)


@pytest.fixture
def unchecked_client(endpoint: DataExchangeEndpoint) -> Any:
    # botocore checks required members client-side; this sends what it would refuse, to test the server's check.
    return new_client(endpoint.url, config=ONE_ATTEMPT.merge(Config(parameter_validation=False)))


def create(client: Any, data_set: str | None = None, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("Action", action())
    return client.create_event_action(Event=event(data_set or data_set_id()), **kwargs)  # type: ignore[no-any-return]


# --- create, get, list ------------------------------------------------------------------------------


def test_create_then_get_returns_the_same_event_action(client: Any) -> None:
    data_set = data_set_id()
    created = create(client, data_set, Tags={"team": "data"})

    fetched = client.get_event_action(EventActionId=created["Id"])

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert re.fullmatch(r"[a-zA-Z0-9]{30,40}", created["Id"])
    assert created["Arn"] == f"arn:aws:dataexchange:us-east-1:123456789012:event-actions/{created['Id']}"
    assert isinstance(created["CreatedAt"], datetime) and created["CreatedAt"].tzinfo is not None
    assert created["CreatedAt"] == created["UpdatedAt"]
    for key in ("Id", "Arn", "Action", "Event", "Tags", "CreatedAt", "UpdatedAt"):
        assert fetched[key] == created[key]
    assert fetched["Action"] == action()
    assert fetched["Event"] == event(data_set)
    assert fetched["Tags"] == {"team": "data"}


def test_an_untagged_event_action_is_answered_without_tags(client: Any) -> None:
    created = create(client, data_set_id())

    fetched = client.get_event_action(EventActionId=created["Id"])

    assert "Tags" not in created and "Tags" not in fetched


def test_arn_carries_the_signing_region_and_the_configured_account() -> None:
    with DataExchangeEndpoint(account="210987654321") as local:
        created = create(new_client(local.url, region="eu-west-1"))
    assert created["Arn"].startswith("arn:aws:dataexchange:eu-west-1:210987654321:event-actions/")


def test_list_filters_by_data_set_and_paginates(client: Any) -> None:
    wanted, other = data_set_id(), data_set_id()
    ids = [create(client, wanted)["Id"] for _ in range(3)]
    create(client, other)

    first = client.list_event_actions(EventSourceId=wanted, MaxResults=2)
    second = client.list_event_actions(EventSourceId=wanted, MaxResults=2, NextToken=first["NextToken"])

    assert [entry["Id"] for entry in first["EventActions"]] == ids[:2]
    assert [entry["Id"] for entry in second["EventActions"]] == ids[2:]
    assert "NextToken" not in second
    assert all("Tags" not in entry for entry in first["EventActions"] + second["EventActions"])
    everything = client.get_paginator("list_event_actions").paginate()
    assert sum(len(page["EventActions"]) for page in everything) == 4


def test_list_paginator_walks_every_page(client: Any) -> None:
    data_set = data_set_id()
    ids = {create(client, data_set)["Id"] for _ in range(5)}
    pages = client.get_paginator("list_event_actions").paginate(
        EventSourceId=data_set, PaginationConfig={"PageSize": 2}
    )
    assert {entry["Id"] for page in pages for entry in page["EventActions"]} == ids


def test_list_data_sets_by_origin_and_only_an_entitled_one_names_its_product(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given an account that subscribes to a product and provides a data set of its own
    entitled = endpoint.add_data_set("prod-uexample0abc1d", "Prices")["Id"]
    owned = endpoint.add_owned_data_set("Our prices")["Id"]

    def listed(**origin: str) -> dict[str, Any]:
        return {entry["Id"]: entry for entry in client.list_data_sets(**origin)["DataSets"]}

    assert list(listed(Origin="ENTITLED")) == [entitled]
    assert list(listed(Origin="OWNED")) == [owned]
    both = listed()
    assert list(both) == [entitled, owned]
    assert both[entitled]["OriginDetails"] == {"ProductId": "prod-uexample0abc1d"}
    assert "OriginDetails" not in both[owned]
    assert both[owned]["Arn"] == f"arn:aws:dataexchange:us-east-1:123456789012:data-sets/{owned}"


def test_list_page_does_not_skip_when_an_event_action_is_deleted_between_pages(client: Any) -> None:
    data_set = data_set_id()
    ids = [create(client, data_set)["Id"] for _ in range(3)]
    first = client.list_event_actions(EventSourceId=data_set, MaxResults=1)
    client.delete_event_action(EventActionId=ids[0])
    rest = client.list_event_actions(EventSourceId=data_set, NextToken=first["NextToken"])
    assert [entry["Id"] for entry in rest["EventActions"]] == ids[1:]


@pytest.mark.parametrize(
    ("params", "member"),
    [
        ({"MaxResults": 201}, "MaxResults"),
        ({"NextToken": "not-a-token"}, "NextToken"),
        ({"EventSourceId": "short"}, "EventSourceId"),
    ],
)
def test_list_rejects_invalid_parameters(client: Any, params: dict[str, Any], member: str) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.list_event_actions(**params)
    assert member in error_of(raised)["Error"]["Message"]


# --- update, delete, not found ---------------------------------------------------------------------


def test_update_replaces_the_whole_action(client: Any) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    created = create(client, Action=action(key_pattern="${Asset.Id}", Type="aws:kms", KmsKeyArn=key), Tags={"a": "b"})
    replacement = action(bucket="bucket-b", key_pattern=None)

    updated = client.update_event_action(EventActionId=created["Id"], Action=replacement)
    fetched = client.get_event_action(EventActionId=created["Id"])

    assert updated["Action"] == replacement
    assert "Tags" not in updated
    assert updated["UpdatedAt"] > created["UpdatedAt"]
    assert updated["CreatedAt"] == created["CreatedAt"]
    assert fetched["Action"] == replacement  # no KeyPattern, no Encryption left over
    assert fetched["Event"] == created["Event"]
    assert fetched["Tags"] == {"a": "b"}


def test_delete_answers_204_with_an_empty_body_and_removes_the_event_action(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    created = create(client)

    deleted = client.delete_event_action(EventActionId=created["Id"])

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert deleted["ResponseMetadata"]["HTTPHeaders"]["content-length"] == "0"
    assert endpoint.event_actions() == []


@pytest.mark.parametrize(
    ("method", "extra"),
    [("get_event_action", {}), ("update_event_action", {"Action": action()}), ("delete_event_action", {})],
)
def test_unknown_well_formed_id_is_resource_not_found(client: Any, method: str, extra: dict[str, Any]) -> None:
    missing = uuid.uuid4().hex
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        getattr(client, method)(EventActionId=missing, **extra)
    response = error_of(raised)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResourceId"] == missing
    assert response["ResourceType"] == "EVENT_ACTION"


@pytest.mark.parametrize("bad_id", ["short", "a" * 41, "a" * 31 + "-", "a" * 30 + "/x"])
def test_malformed_id_is_a_validation_error(client: Any, bad_id: str) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.get_event_action(EventActionId=bad_id)
    assert error_of(raised)["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "EventActionId" in error_of(raised)["Error"]["Message"]


# --- input validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["short", "a" * 41, "a" * 32 + "!"])
def test_malformed_data_set_id_is_a_validation_error(client: Any, bad_id: str) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        create(client, bad_id)
    assert "Event.RevisionPublished.DataSetId" in error_of(raised)["Error"]["Message"]


def test_unknown_encryption_type_is_rejected_naming_the_member(client: Any, endpoint: DataExchangeEndpoint) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        create(client, Action=action(Type="aws:kms:dsse"))
    assert "Action.ExportRevisionToS3.Encryption.Type" in error_of(raised)["Error"]["Message"]
    assert endpoint.event_actions() == []


def test_kms_encryption_requires_a_key_arn(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        create(client, Action=action(Type="aws:kms"))
    assert "KmsKeyArn" in error_of(raised)["Error"]["Message"]


KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("bad_action", "complaint"),
    [
        (action(Type="AES256", KmsKeyArn=KEY), "Encryption.KmsKeyArn: only allowed when Type is aws:kms"),
        (
            action(Type="aws:kms", KmsKeyArn="arn:aws:kms:us-east-1:123456789012:alias/exports"),
            "is not a KMS key ARN",
        ),
        (action(bucket="Not_A_Bucket"), "Bucket 'Not_A_Bucket' is not a valid bucket name"),
    ],
    ids=["sse-s3-with-a-key", "alias-for-a-key", "invalid-bucket"],
)
def test_what_the_service_rejects_beyond_the_model_is_rejected(
    client: Any, endpoint: DataExchangeEndpoint, bad_action: Any, complaint: str
) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        create(client, Action=bad_action)
    assert complaint in error_of(raised)["Error"]["Message"]
    assert endpoint.event_actions() == []


@pytest.mark.parametrize(
    ("endpoint", "answered"),
    [
        ({"answers": "as sent"}, {"RevisionDestination": {"Bucket": "bucket-a"}}),
        (
            {"answers": "defaults filled in"},
            {
                "RevisionDestination": {"Bucket": "bucket-a", "KeyPattern": "${Revision.CreatedAt}/${Asset.Name}"},
                "Encryption": {"Type": "AES256"},
            },
        ),
        ({"answers": "defaults left out"}, {"RevisionDestination": {"Bucket": "bucket-a"}}),
    ],
    indirect=["endpoint"],
    ids=["as-sent", "defaults-filled-in", "defaults-left-out"],
)
def test_an_action_is_answered_in_the_form_asked_for_and_stored_as_sent(
    endpoint: DataExchangeEndpoint, client: Any, answered: Any
) -> None:
    sent = action(key_pattern=None)
    created = create(client, Action=sent)
    fetched = client.get_event_action(EventActionId=created["Id"])
    stored = endpoint.event_actions()
    assert created["Action"] == fetched["Action"] == {"ExportRevisionToS3": answered}
    assert [item["Action"] for item in stored] == [sent]


@pytest.mark.parametrize("endpoint", [{"answers": "defaults left out"}], indirect=True, ids=["defaults-left-out"])
def test_defaults_left_out_drops_only_default_values(client: Any) -> None:
    sent = action(key_pattern="${Revision.CreatedAt}/${Asset.Name}", Type="AES256")
    created = create(client, Action=sent)
    custom = create(client, Action=action(key_pattern="${Asset.Id}", Type="aws:kms", KmsKeyArn=KEY))
    assert created["Action"] == {"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "bucket-a"}}}
    assert custom["Action"]["ExportRevisionToS3"]["RevisionDestination"]["KeyPattern"] == "${Asset.Id}"
    assert custom["Action"]["ExportRevisionToS3"]["Encryption"] == {"Type": "aws:kms", "KmsKeyArn": KEY}


def test_update_applies_the_same_action_rules(client: Any) -> None:
    created = create(client)
    with pytest.raises(client.exceptions.ValidationException):
        client.update_event_action(EventActionId=created["Id"], Action=action(Type="aws:kms"))
    assert client.get_event_action(EventActionId=created["Id"])["Action"] == action()


@pytest.mark.parametrize(
    ("key_pattern", "complaint"),
    [
        ("${Revision.Id}/fixed", "must contain ${Asset.Name} or ${Asset.Id}"),
        ("${Asset.Nme}", "unsupported dynamic reference ${Asset.Nme}"),
        ("${Asset.Name", "malformed dynamic reference"),
        ("", "must contain ${Asset.Name} or ${Asset.Id}"),
    ],
)
def test_invalid_key_pattern_is_rejected(
    client: Any, endpoint: DataExchangeEndpoint, key_pattern: str, complaint: str
) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        create(client, Action=action(key_pattern=key_pattern))
    assert error_of(raised)["Error"]["Message"] == f"KeyPattern {key_pattern!r}: {complaint}"
    assert endpoint.event_actions() == []


@pytest.mark.parametrize(
    ("body", "member"),
    [
        ({"Event": event("a" * 32)}, "Action"),
        ({"Action": action(), "Event": {"RevisionPublished": {}}}, "Event.RevisionPublished.DataSetId"),
        ({"Action": {"ExportRevisionToS3": {"RevisionDestination": {}}}, "Event": event("a" * 32)}, "Bucket"),
        (
            {"Action": action(bucket=5), "Event": event("a" * 32)},
            "Action.ExportRevisionToS3.RevisionDestination.Bucket",
        ),
        ({"Action": action(), "Event": event("a" * 32), "Tags": {"k": 1}}, "Tags"),
    ],
)
def test_server_validates_what_botocore_was_told_not_to(
    unchecked_client: Any, body: dict[str, Any], member: str
) -> None:
    with pytest.raises(unchecked_client.exceptions.ValidationException) as raised:
        unchecked_client.create_event_action(**body)
    assert member in error_of(raised)["Error"]["Message"]


# --- quotas ----------------------------------------------------------------------------------------


def test_sixth_event_action_on_a_data_set_exceeds_the_quota(client: Any, endpoint: DataExchangeEndpoint) -> None:
    data_set = data_set_id()
    for _ in range(5):
        create(client, data_set)

    with pytest.raises(client.exceptions.ServiceLimitExceededException) as raised:
        create(client, data_set)

    response = error_of(raised)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert response["Error"]["Code"] == "ServiceLimitExceededException"
    # botocore merges the modeled members into the top level of the response, not into "Error".
    assert response["LimitName"] == "Auto export event actions per data set"
    assert response["LimitValue"] == 5
    assert "LimitName" not in response["Error"]
    assert len(endpoint.event_actions()) == 5
    create(client)  # another data set is unaffected


def test_fifty_first_event_action_in_the_account_exceeds_the_quota(client: Any) -> None:
    for _ in range(10):
        data_set = data_set_id()
        for _ in range(5):
            create(client, data_set)

    with pytest.raises(client.exceptions.ServiceLimitExceededException) as raised:
        create(client)

    assert error_of(raised)["LimitName"] == "Event actions per account"
    assert error_of(raised)["LimitValue"] == 50


# --- tags ------------------------------------------------------------------------------------------


def test_tag_untag_and_list_tags_work_on_the_event_action_arn(client: Any) -> None:
    arn = create(client, Tags={"keep": "1", "drop": "2"})["Arn"]

    tagged = client.tag_resource(ResourceArn=arn, Tags={"added": "3", "keep": "changed"})
    untagged = client.untag_resource(ResourceArn=arn, TagKeys=["drop", "absent"])

    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"keep": "changed", "added": "3"}
    assert client.get_event_action(EventActionId=arn.rsplit("/", 1)[1])["Tags"] == {"keep": "changed", "added": "3"}


@pytest.mark.parametrize(
    "call",
    [
        lambda client, arn: client.list_tags_for_resource(ResourceArn=arn),
        lambda client, arn: client.tag_resource(ResourceArn=arn, Tags={"a": "b"}),
        lambda client, arn: client.untag_resource(ResourceArn=arn, TagKeys=["a"]),
    ],
)
def test_tag_routes_on_an_unknown_arn_are_resource_not_found(client: Any, call: Any) -> None:
    arn = f"arn:aws:dataexchange:us-east-1:123456789012:event-actions/{uuid.uuid4().hex}"
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        call(client, arn)
    assert error_of(raised)["ResourceId"] == arn


def test_reserved_tag_prefix_is_rejected(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationException):
        create(client, Tags={"aws:owner": "x"})


# --- routing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/v1/data-sets"), ("PUT", "/v1/event-actions"), ("GET", "/")])
def test_unknown_route_answers_404_with_a_json_error(endpoint: DataExchangeEndpoint, method: str, path: str) -> None:
    request = urllib.request.Request(endpoint.url + path, method=method)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 404
    assert raised.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert path in json.loads(raised.value.read())["Message"]


def test_client_finds_the_endpoint_through_the_environment(
    endpoint: DataExchangeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DATAEXCHANGE", endpoint.url)
    client = boto3.client(
        "dataexchange", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    assert client.list_event_actions()["EventActions"] == []
    assert endpoint.calls == [
        Call("ListEventActions", 200, "testing", (Authorization("dataexchange:ListEventActions", "*"),))
    ]


# --- faults and the call log -----------------------------------------------------------------------


@pytest.mark.usefixtures("no_retry_sleep")
def test_throttling_twice_is_ridden_out_by_standard_retries_and_creates_one_event_action(
    endpoint: DataExchangeEndpoint,
) -> None:
    client = new_client(endpoint.url, config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    endpoint.inject("CreateEventAction", Fault("throttle", count=2))

    created = create(client)

    assert created["ResponseMetadata"]["RetryAttempts"] == 2
    assert outcomes(endpoint) == [("CreateEventAction", 429), ("CreateEventAction", 429), ("CreateEventAction", 201)]
    assert [item["Id"] for item in endpoint.event_actions()] == [created["Id"]]


@pytest.mark.parametrize(
    ("kind", "exception", "status"),
    [("internal", "InternalServerException", 500), ("access_denied", "AccessDeniedException", 403)],
)
def test_error_faults_raise_the_modeled_exception(
    client: Any, endpoint: DataExchangeEndpoint, kind: Any, exception: str, status: int
) -> None:
    endpoint.inject("CreateEventAction", Fault(kind))

    with pytest.raises(getattr(client.exceptions, exception)) as raised:
        create(client)

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert endpoint.event_actions() == []
    create(client)  # the fault was for one call only


@pytest.mark.parametrize("cause", ["InsufficientS3BucketPolicy", "S3AccessDenied"])
def test_validation_fault_carries_the_exception_cause(client: Any, endpoint: DataExchangeEndpoint, cause: str) -> None:
    endpoint.inject("CreateEventAction", Fault("validation", exception_cause=cause))

    with pytest.raises(client.exceptions.ValidationException) as raised:
        create(client)

    assert error_of(raised)["ExceptionCause"] == cause
    assert "ExceptionCause" not in error_of(raised)["Error"]


def test_fault_on_one_operation_leaves_the_others_alone(client: Any, endpoint: DataExchangeEndpoint) -> None:
    endpoint.inject("DeleteEventAction", Fault("internal"))
    created = create(client)
    fetched = client.get_event_action(EventActionId=created["Id"])
    with pytest.raises(client.exceptions.InternalServerException):
        client.delete_event_action(EventActionId=created["Id"])

    assert fetched["Id"] == created["Id"]
    assert outcomes(endpoint) == [("CreateEventAction", 201), ("GetEventAction", 200), ("DeleteEventAction", 500)]
    assert [item["Id"] for item in endpoint.event_actions()] == [created["Id"]]


def test_wildcard_fault_hits_whatever_operation_comes_next(client: Any, endpoint: DataExchangeEndpoint) -> None:
    endpoint.inject("*", Fault("access_denied", count=2))
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_event_actions()
    with pytest.raises(client.exceptions.AccessDeniedException):
        create(client)
    create(client)
    assert outcomes(endpoint) == [("ListEventActions", 403), ("CreateEventAction", 403), ("CreateEventAction", 201)]


@pytest.mark.usefixtures("no_retry_sleep")
def test_latency_fault_delays_only_the_next_calls(endpoint: DataExchangeEndpoint) -> None:
    # Given a client that gives up on an answer after 0.5 s and tries twice, and two answers delayed by 2 s
    impatient = Config(read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 2})
    client = new_client(endpoint.url, config=impatient)
    endpoint.inject("ListEventActions", Fault("latency", count=2, seconds=2))

    # Then both attempts of the first call time out, and the next call is answered at once: it is the first
    # the call log holds, because the two delayed answers are still being held back
    with pytest.raises(ReadTimeoutError):
        client.list_event_actions()
    assert client.list_event_actions()["EventActions"] == []
    assert outcomes(endpoint) == [("ListEventActions", 200)]


def test_call_log_shows_no_create_reached_the_endpoint_when_botocore_refuses_it(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    with pytest.raises(Exception, match="Missing required parameter"):
        client.create_event_action(Action=action())
    assert [call for call in endpoint.calls if call.operation == "CreateEventAction"] == []


def test_inject_rejects_an_operation_typo(endpoint: DataExchangeEndpoint) -> None:
    with pytest.raises(ValueError):
        endpoint.inject("CreateEventActions", Fault("throttle"))


def test_fault_rejects_a_kind_typo() -> None:
    with pytest.raises(ValueError):
        Fault("throtle")  # type: ignore[arg-type]


def test_fault_rejects_an_exception_cause_the_model_does_not_know() -> None:
    with pytest.raises(ValueError, match="ExceptionCause"):
        Fault("validation", exception_cause="BucketMissing")


# --- persistence and the command line --------------------------------------------------------------


def test_state_survives_into_a_new_instance(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with DataExchangeEndpoint(state_file=state) as first:
        client = new_client(first.url)
        kept = create(client, Tags={"a": "b"})
        deleted = create(client)
        client.delete_event_action(EventActionId=deleted["Id"])
    assert [item["Id"] for item in json.loads(state.read_text())["EventActions"]] == [kept["Id"]]

    with DataExchangeEndpoint(state_file=state) as second:
        fetched = new_client(second.url).get_event_action(EventActionId=kept["Id"])

    assert fetched["Arn"] == kept["Arn"]
    assert fetched["CreatedAt"] == kept["CreatedAt"]
    assert fetched["Tags"] == {"a": "b"}
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]  # no temporary file left behind


def test_command_line_prints_the_url_and_serves_until_terminated(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "constructs"), str(REPO / "lambda")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "cdk_dataexchange_auto_export.local.endpoints", "--port", "0", "--state", str(state)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        created = create(new_client(url))
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0
    assert stderr == ""  # quiet: no per-request log lines
    assert [item["Id"] for item in json.loads(state.read_text())["EventActions"]] == [created["Id"]]


# --- what each call needs authorizing -----------------------------------------------------------------


def test_each_call_records_its_caller_and_what_iam_must_allow_it(client: Any, endpoint: DataExchangeEndpoint) -> None:
    # Given an SSE-KMS export with a ${DataSet.Name} pattern and tags, created, listed and deleted
    data_set = data_set_id()
    created = create(
        client,
        data_set,
        Action=action(key_pattern="${DataSet.Name}/${Asset.Name}", Type="aws:kms", KmsKeyArn=KEY),
        Tags={"team": "data"},
    )
    client.list_event_actions(EventSourceId=data_set)
    client.delete_event_action(EventActionId=created["Id"])

    # Then each call names the caller's access key and the authorizations, as the service reference lists them
    arn = created["Arn"]
    create_call, list_call, delete_call = endpoint.calls
    assert {call.caller for call in endpoint.calls} == {"testing"}
    assert create_call.authorizations == (
        Authorization("dataexchange:CreateEventAction", arn),
        Authorization("dataexchange:TagResource", arn),
        Authorization("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
        # An entitled data set belongs to the provider: its ARN has no account.
        Authorization("dataexchange:GetDataSet", f"arn:aws:dataexchange:us-east-1::data-sets/{data_set}"),
    )
    assert list_call.authorizations == (Authorization("dataexchange:ListEventActions", "*"),)
    assert delete_call.authorizations == (
        Authorization("dataexchange:DeleteEventAction", arn),
        Authorization("kms:RevokeGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
    )
