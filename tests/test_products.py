"""A product's reconcile and its properties, called with a real boto3 client over HTTP to the local endpoint."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from cdk_dataexchange_auto_export.local.endpoints import DataExchangeEndpoint, local_client
from dataexchange_auto_export_handler import event_actions, parallel, products
from dataexchange_auto_export_handler.clients import RETRY_CONFIG
from dataexchange_auto_export_handler.contract import LOGICAL_ID_TAG, PRODUCT_ID_TAG, STACK_ID_TAG
from dataexchange_auto_export_handler.event_actions import EventActionError, Owner
from dataexchange_auto_export_handler.properties import ProductProperties
from dataexchange_auto_export_handler.rules import PropertyError, check_product_key_pattern

PRODUCT = "prod-uexample0abc1d"
OTHER_PRODUCT = "prod-zexample9xyz2e"
STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/S/1"
OWNER = Owner(STACK, "Product", PRODUCT)
PATTERN = "${DataSet.Name}/${Revision.CreatedAt}/${Asset.Name}"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def client(endpoint: DataExchangeEndpoint) -> Any:
    return local_client(endpoint.url, config=RETRY_CONFIG)


def product(**overrides: Any) -> ProductProperties:
    return ProductProperties.from_properties({"ProductId": PRODUCT, "Bucket": "destination-bucket", **overrides})


def on_data_sets(endpoint: DataExchangeEndpoint) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in endpoint.event_actions():
        found.setdefault(item["Event"]["RevisionPublished"]["DataSetId"], []).append(item)
    return found


def operations(endpoint: DataExchangeEndpoint, since: int = 0) -> Counter[str]:
    """How often each operation was called from the `since`-th call on, every call a success."""
    calls = endpoint.calls[since:]
    assert all(200 <= call.status < 300 for call in calls)
    return Counter(call.operation for call in calls)


def test_properties_default_to_a_pattern_that_keeps_data_sets_apart_and_render_back() -> None:
    properties = product(Tags={"team": "x"}, ExportExistingRevisions="3", AdoptExisting="true", KmsKeyArn=KEY_ARN)

    assert properties.export.key_pattern == PATTERN
    assert properties.to_properties() == {
        "ProductId": PRODUCT,
        "Bucket": "destination-bucket",
        "KeyPattern": PATTERN,
        "KmsKeyArn": KEY_ARN,
        "Tags": {"team": "x"},
        "AdoptExisting": "true",
        "ExportExistingRevisions": "3",
    }
    assert ProductProperties.from_properties(properties.to_properties()) == properties
    assert properties.for_data_set("d" * 32).to_properties() == {
        "DataSetId": "d" * 32,
        **{key: value for key, value in properties.to_properties().items() if key != "ProductId"},
    }


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"ProductId": "8d494cba5e4720172a1e69a6e1b8fed5"}, "ProductId '8d494cba5e4720172a1e69a6e1b8fed5' is not a"),
        ({"ProductId": "prod-x/"}, "ProductId 'prod-x/' is not a Data Exchange product id"),
        (
            {"KeyPattern": "${Revision.Id}/${Asset.Name}"},
            "KeyPattern '${Revision.Id}/${Asset.Name}' must contain ${DataSet.Name} or ${DataSet.Id}: the product's "
            "data sets export to one bucket, and without them their objects would overwrite each other's",
        ),
        ({"DataSetId": "d" * 32}, "Unknown property 'DataSetId'"),
        ({"ProductId": ""}, "ProductId and Bucket are required"),
    ],
    ids=["a-data-set-id", "ends-with-a-slash", "no-data-set-in-pattern", "a-data-sets-property", "empty"],
)
def test_properties_the_service_would_refuse_are_refused_first(overrides: dict[str, str], complaint: str) -> None:
    with pytest.raises(PropertyError) as refused:
        product(**overrides)
    assert complaint in str(refused.value)


def test_a_product_key_pattern_is_first_a_key_pattern_named_as_its_caller_names_it() -> None:
    # The construct checks at synth with its own parameter's name.
    with pytest.raises(PropertyError) as refused:
        check_product_key_pattern("${DataSet.Name}/${Revision.Id}", "key_pattern")

    assert str(refused.value) == (
        "key_pattern '${DataSet.Name}/${Revision.Id}' must contain ${Asset.Name} or ${Asset.Id}, otherwise every "
        "asset of a revision is written to the same key"
    )


def test_a_data_set_id_pattern_is_a_prefix_of_its_own_too() -> None:
    assert product(KeyPattern="${DataSet.Id}/${Asset.Id}").export.key_pattern == "${DataSet.Id}/${Asset.Id}"


def test_reconcile_makes_one_owned_event_action_per_exportable_data_set_of_the_product(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given, listed in this order on one page, another product's data set and one of the product's that
    # auto-export cannot export before those it can: passing over the first two still reads the rest
    endpoint.add_data_set(OTHER_PRODUCT, "Not ours")
    endpoint.add_data_set(PRODUCT, "Quotes", asset_type="API_GATEWAY_API")
    files = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(2)]

    outcome = products.reconcile(client, product(Tags={"team": "x"}, KmsKeyArn=KEY_ARN), OWNER)

    assert (outcome.added, outcome.removed) == (files, [])
    assert outcome.data() == {
        "ProductId": PRODUCT,
        "DataSetIds": ",".join(files),
        "EventActionCount": "2",
        "DataSetCount": "2",
    }
    found = on_data_sets(endpoint)
    assert sorted(found) == sorted(files)
    for [item] in found.values():
        assert item["Tags"] == {"team": "x", STACK_ID_TAG: STACK, LOGICAL_ID_TAG: "Product", PRODUCT_ID_TAG: PRODUCT}
        assert item["Action"]["ExportRevisionToS3"]["RevisionDestination"]["KeyPattern"] == PATTERN
        assert item["Action"]["ExportRevisionToS3"]["Encryption"] == {"Type": "aws:kms", "KmsKeyArn": KEY_ARN}
        assert outcome.event_actions[item["Event"]["RevisionPublished"]["DataSetId"]].id == item["Id"]


def test_reconcile_again_changes_nothing_and_updates_what_drifted(client: Any, endpoint: DataExchangeEndpoint) -> None:
    [data_set] = [endpoint.add_data_set(PRODUCT, "Prices")["Id"]]
    products.reconcile(client, product(), OWNER)

    outcome = products.reconcile(client, product(KeyPattern="${DataSet.Id}/${Asset.Id}"), OWNER)

    assert (outcome.added, outcome.removed, outcome.data_set_ids) == ([], [], [data_set])
    [[item]] = on_data_sets(endpoint).values()
    assert item["Action"]["ExportRevisionToS3"]["RevisionDestination"]["KeyPattern"] == "${DataSet.Id}/${Asset.Id}"


def test_of_two_owned_event_actions_on_a_data_set_the_oldest_stays(client: Any, endpoint: DataExchangeEndpoint) -> None:
    # Given two reconciles that raced into two event actions on one data set
    data_set = endpoint.add_data_set(PRODUCT, "Prices")["Id"]
    first = event_actions.create_event_action(client, product().for_data_set(data_set), OWNER)
    client.create_event_action(
        Action=product().export.action(),
        Event={"RevisionPublished": {"DataSetId": data_set}},
        Tags=OWNER.tags(),
    )

    outcome = products.reconcile(client, product(), OWNER)

    assert [item["Id"] for item in endpoint.event_actions()] == [first.id]
    assert outcome.event_actions[data_set].id == first.id


def test_owned_event_actions_of_data_sets_gone_from_the_product_are_deleted_and_no_others(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    kept, gone = (endpoint.add_data_set(PRODUCT, name)["Id"] for name in ("Kept", "Gone"))
    products.reconcile(client, product(), OWNER)
    other_owner = Owner(STACK, "OtherProduct", PRODUCT)
    event_actions.create_event_action(client, product(Bucket="other-bucket").for_data_set(gone), other_owner)
    endpoint.end_entitlement(gone)

    outcome = products.reconcile(client, product(), OWNER)

    assert (outcome.removed, outcome.data_set_ids) == ([gone], [kept])
    remaining = {
        item["Tags"][LOGICAL_ID_TAG]: item["Event"]["RevisionPublished"]["DataSetId"]
        for item in endpoint.event_actions()
    }
    assert remaining == {"Product": kept, "OtherProduct": gone}


def test_an_identical_event_action_of_nobodys_is_refused_or_adopted(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    data_set = endpoint.add_data_set(PRODUCT, "Prices")["Id"]
    made = client.create_event_action(
        Action=product().export.action(), Event={"RevisionPublished": {"DataSetId": data_set}}
    )["Id"]

    with pytest.raises(EventActionError, match=f"Event action {made} already exports data set {data_set}"):
        products.reconcile(client, product(), OWNER)
    outcome = products.reconcile(client, product(AdoptExisting="true"), OWNER)

    assert outcome.event_actions[data_set].id == made
    [[item]] = on_data_sets(endpoint).values()
    assert item["Tags"][PRODUCT_ID_TAG] == PRODUCT


def test_delete_owned_removes_the_owners_event_actions_only(client: Any, endpoint: DataExchangeEndpoint) -> None:
    data_sets = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(2)]
    products.reconcile(client, product(), OWNER)
    another = Owner(STACK, "Product", OTHER_PRODUCT)
    kept = event_actions.create_event_action(client, product(Bucket="other-bucket").for_data_set(data_sets[0]), another)

    assert products.delete_owned(client, OWNER) == sorted(data_sets)
    assert [item["Id"] for item in endpoint.event_actions()] == [kept.id]


def test_a_refusal_for_a_quota_names_the_product_the_need_and_where_to_raise_it(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    data_sets = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(3)]
    for n in range(49):
        client.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "elsewhere"}}},
            Event={"RevisionPublished": {"DataSetId": f"{n:032d}"}},
        )

    with pytest.raises(EventActionError) as refused:
        products.reconcile(client, product(), OWNER)

    # The three are made at once: one gets the last event action of the account, and the first of the product's
    # order that did not is named
    [got_one] = [item["Event"]["RevisionPublished"]["DataSetId"] for item in endpoint.event_actions()[49:]]
    first_refused = next(data_set for data_set in data_sets if data_set != got_one)
    assert str(refused.value) == (
        f"Product {PRODUCT} needs 3 event actions; data set {first_refused} could not get one: quota 'Event actions "
        "per account' (50) reached. Raise it in Service Quotas (AWS Data Exchange) or delete unused ones."
    )


def test_reconcile_reads_each_list_in_one_page_and_a_data_sets_event_actions_only_after_making_one(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given a product of 25 data sets (the most a product holds), more than the endpoint's default page
    [endpoint.add_data_set(PRODUCT, f"Prices {n}") for n in range(25)]

    # When it is reconciled, then again with nothing to change
    products.reconcile(client, product(), OWNER)
    created = operations(endpoint)
    products.reconcile(client, product(), OWNER)

    # Then each reconcile read the data sets and the account's event actions a page each; the Create read a
    # data set's event actions again only after making its own (to find a race), and the second wrote nothing
    assert created == {"ListDataSets": 1, "ListEventActions": 1 + 25, "CreateEventAction": 25, "GetEventAction": 25}
    assert operations(endpoint, created.total()) == {"ListDataSets": 1, "ListEventActions": 1, "GetEventAction": 25}


def test_reconcile_reads_the_entitled_data_sets_alone_beside_many_of_the_accounts_own(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given an account that provides a page's worth of data sets of its own (OWNED, of no product), made
    # before it subscribed to the product
    for n in range(products.PAGE):
        endpoint.add_owned_data_set(f"Our data {n}")
    [data_set] = [endpoint.add_data_set(PRODUCT, "Prices")["Id"]]

    outcome = products.reconcile(client, product(), OWNER)

    # Then only entitled data sets were asked for: one page holds them all
    assert outcome.data_set_ids == [data_set]
    assert operations(endpoint)["ListDataSets"] == 1


def test_reconcile_and_delete_owned_leave_event_actions_made_without_tags_alone(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given event actions made in the console, untagged (the service then answers without Tags): one on a
    # data set of the product, exporting elsewhere, and one on another product's data set
    data_set = endpoint.add_data_set(PRODUCT, "Prices")["Id"]
    other = endpoint.add_data_set(OTHER_PRODUCT, "Not ours")["Id"]
    console = local_client(endpoint.url)
    for on in (data_set, other):
        console.create_event_action(
            Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "elsewhere"}}},
            Event={"RevisionPublished": {"DataSetId": on}},
        )
    untagged = endpoint.event_actions()

    # When the product is reconciled, then its event actions deleted
    outcome = products.reconcile(client, product(), OWNER)
    deleted = products.delete_owned(client, OWNER)

    # Then only its own were made and deleted; the untagged ones are as they were
    assert (outcome.added, deleted) == ([data_set], [data_set])
    assert endpoint.event_actions() == untagged


def made_by_another_reconcile(client: Any, data_set: str) -> str:
    """The product's event action on the data set, as a reconcile running at the same time makes it."""
    made = client.create_event_action(
        Action=product().export.action(),
        Event={"RevisionPublished": {"DataSetId": data_set}},
        Tags=OWNER.tags(),
    )
    return str(made["Id"])


@pytest.mark.parametrize("endpoint", [{"list_lag": 1}], indirect=True)
def test_reconcile_that_raced_others_keeps_the_oldest_event_action_it_sees_and_the_next_removes_its_own(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given two other reconciles that each made the data set's event action a moment ago, too recently for
    # the next list to show them
    data_set = endpoint.add_data_set(PRODUCT, "Prices")["Id"]
    oldest, newer = (made_by_another_reconcile(client, data_set) for _ in range(2))

    # When this reconcile finds none, makes its own and reads the data set's event actions again: by now the
    # list shows theirs, not yet its own
    outcome = products.reconcile(client, product(), OWNER)

    # Then the oldest of those it sees stays, and is the one it reports
    assert outcome.event_actions[data_set].id == oldest
    [ours] = [item["Id"] for item in endpoint.event_actions() if item["Id"] not in (oldest, newer)]
    assert [item["Id"] for item in endpoint.event_actions()] == [oldest, ours]
    # And the next reconcile, which sees its own too, removes that
    assert products.reconcile(client, product(), OWNER).event_actions[data_set].id == oldest
    assert [item["Id"] for item in endpoint.event_actions()] == [oldest]


@pytest.mark.parametrize("endpoint", [{"list_lag": 1}], indirect=True)
def test_reconcile_reports_the_event_action_it_made_while_the_list_does_not_show_it_yet(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    data_set = endpoint.add_data_set(PRODUCT, "Prices")["Id"]

    outcome = products.reconcile(client, product(), OWNER)

    [item] = endpoint.event_actions()
    assert (outcome.added, outcome.event_actions[data_set].id) == ([data_set], item["Id"])


# --- behaviour a user relies on ------------------------------------------------------------------------------


def test_of_two_owned_event_actions_the_one_created_first_stays_however_recently_the_other_was_updated(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given two reconciles raced into two event actions, and the first made was updated since (its UpdatedAt is the
    # newer): creation time never changes, so every run, whatever it updated, keeps the same one
    data_set = endpoint.add_data_set(PRODUCT, "Prices")["Id"]
    first = made_by_another_reconcile(client, data_set)
    made_by_another_reconcile(client, data_set)
    client.update_event_action(
        EventActionId=first, Action=product(KeyPattern="${DataSet.Id}/${Asset.Id}").export.action()
    )

    outcome = products.reconcile(client, product(), OWNER)

    assert [item["Id"] for item in endpoint.event_actions()] == [first]
    assert outcome.event_actions[data_set].id == first


def test_the_attributes_count_every_data_set_exported_not_only_those_added(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given a product exported before, to which the provider added a data set
    before = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(2)]
    products.reconcile(client, product(), OWNER)
    added = endpoint.add_data_set(PRODUCT, "Prices 2")["Id"]

    outcome = products.reconcile(client, product(), OWNER)

    assert outcome.added == [added]
    assert outcome.data() == {
        "ProductId": PRODUCT,
        "DataSetIds": ",".join([*before, added]),
        "EventActionCount": "3",
        "DataSetCount": "3",
    }


def test_after_the_deadline_a_reconcile_makes_one_round_of_event_actions_and_leaves_the_rest_pending(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given 40 data sets, one of them exported already, and a deadline already past
    data_sets = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(40)]
    event_actions.create_event_action(client, product().for_data_set(data_sets[-1]), OWNER)

    outcome = products.reconcile(client, product(), OWNER, deadline=time.monotonic() - 1)

    # Then the one exported is kept whatever the time, a round of calls is made, and the rest waits, in order
    made = parallel.CONCURRENCY
    assert outcome.added == data_sets[:made]
    assert outcome.pending == data_sets[made:-1]
    assert outcome.data_set_ids == [*data_sets[:made], data_sets[-1]]
    # EventActionCount what is exported now, DataSetCount what the product has
    assert (outcome.data()["EventActionCount"], outcome.data()["DataSetCount"]) == (str(made + 1), "40")
    assert len(endpoint.event_actions()) == made + 1


@pytest.mark.parametrize("endpoint", [{"quotas": {"Event actions per account": 100}}], indirect=True)
def test_data_set_ids_holds_the_first_ids_that_fit_two_kilobytes_and_the_counts_say_the_rest(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    data_sets = [endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(100)]

    data = products.reconcile(client, product(), OWNER).data()

    listed = data["DataSetIds"].split(",")
    assert listed == data_sets[: len(listed)]
    assert (
        len(data["DataSetIds"])
        <= products.DATA_SET_IDS_BYTES
        < len(data["DataSetIds"]) + 1 + len(data_sets[len(listed)])
    )
    assert (data["EventActionCount"], data["DataSetCount"]) == ("100", "100")


def test_a_delete_removes_its_own_stacks_event_actions_and_not_another_stacks_following_the_same_product(
    client: Any, endpoint: DataExchangeEndpoint
) -> None:
    # Given two stacks, each with a construct of the same id following the same product to a bucket of its own
    data_set = endpoint.add_data_set(PRODUCT, "Prices")["Id"]
    other_stack = Owner("arn:aws:cloudformation:us-east-1:123456789012:stack/Other/2", "Product", PRODUCT)
    products.reconcile(client, product(), OWNER)
    kept = products.reconcile(client, product(Bucket="other-bucket"), other_stack).event_actions[data_set]

    assert products.delete_owned(client, OWNER) == [data_set]
    assert [item["Id"] for item in endpoint.event_actions()] == [kept.id]


@pytest.mark.parametrize(
    "asset_type", ["REDSHIFT_DATA_SHARE", "API_GATEWAY_API", "S3_DATA_ACCESS", "LAKE_FORMATION_DATA_PERMISSION"]
)
def test_only_data_sets_of_files_are_exported(client: Any, endpoint: DataExchangeEndpoint, asset_type: str) -> None:
    files = endpoint.add_data_set(PRODUCT, "Files")["Id"]
    endpoint.add_data_set(PRODUCT, "Shared in place", asset_type=asset_type)

    outcome = products.reconcile(client, product(), OWNER)

    assert (
        outcome.data_set_ids,
        [item["Event"]["RevisionPublished"]["DataSetId"] for item in endpoint.event_actions()],
    ) == ([files], [files])


@pytest.mark.parametrize("endpoint", [{"answers": "defaults left out"}], indirect=True)
def test_a_reconcile_says_what_it_brought_back_and_what_it_found(client: Any, endpoint: DataExchangeEndpoint) -> None:
    # Given someone points one of the product's event actions elsewhere, and the service answers the other with its
    # defaults left out (no drift: SSE-S3 either way)
    changed, same = (endpoint.add_data_set(PRODUCT, f"Prices {n}")["Id"] for n in range(2))
    outcome = products.reconcile(client, product(), OWNER)
    client.update_event_action(
        EventActionId=outcome.event_actions[changed].id,
        Action={"ExportRevisionToS3": {"RevisionDestination": {"Bucket": "elsewhere-bucket", "KeyPattern": PATTERN}}},
    )

    again = products.reconcile(client, product(), OWNER)

    assert again.changed == {changed: f"s3://elsewhere-bucket/{PATTERN} (SSE-S3)"}
    assert (again.added, again.removed) == ([], [])
    assert same not in again.changed
