"""createCustomer and updateCustomer over HTTP: success, replay, and every error member."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import Api
from tests.api.test_mutations_support import (
    CREATE_CUSTOMER,
    FAILURE,
    PROMOTE,
    UNKNOWN_CUSTOMER,
    case,
    fields_of,
    granted,
    new_customer,
    outcome,
    run,
)

UPDATE_CUSTOMER = (
    """
mutation UpdateCustomer($input: UpdateCustomerInput!) {
  result: updateCustomer(input: $input) {
    __typename
    ... on UpdateCustomerSuccess {
      customer { id key name description labels { key value } createdAt updatedAt }
    }
    ...Failure
  }
}"""
    + FAILURE
)

CUSTOMERS = "{ customers { totalCount } }"

CUSTOMER = """
query Customer($id: ID!) {
  customer(id: $id) { id key name description labels { key value } createdAt updatedAt }
}
"""


async def create(api: Api, **fields: Any) -> dict[str, Any]:
    return await run(api, CREATE_CUSTOMER, **{"key": "acme", "name": "Acme Inc.", **fields})


async def update(api: Api, customer_id: str, **fields: Any) -> dict[str, Any]:
    return await run(api, UPDATE_CUSTOMER, customerId=customer_id, **fields)


async def customer_count(api: Api) -> int:
    count: int = (await api(CUSTOMERS))["customers"]["totalCount"]
    return count


# ---------------------------------------------------------------- createCustomer


async def test_create_customer_answers_with_the_new_customer(api: Api) -> None:
    result = await create(
        api,
        description="A wholesale buyer",
        labels=[{"key": "tier", "value": "gold"}, {"key": "region", "value": "eu"}],
    )

    assert result["__typename"] == "CreateCustomerSuccess"
    assert result["replayed"] is False
    customer = result["customer"]
    assert customer["id"].startswith("cus_")
    assert customer == {
        "id": customer["id"],
        "key": "acme",
        "name": "Acme Inc.",
        "description": "A wholesale buyer",
        "labels": [{"key": "tier", "value": "gold"}, {"key": "region", "value": "eu"}],
        "createdAt": "2026-01-15T12:00:00Z",
        "updatedAt": "2026-01-15T12:00:00Z",
    }
    assert (await api(CUSTOMER, id=customer["id"]))["customer"] == customer


async def test_create_customer_with_the_same_key_and_input_replays_the_first_answer(
    api: Api, clock: FrozenClock
) -> None:
    labels = [{"key": "tier", "value": "gold"}, {"key": "region", "value": "eu"}]
    first = await create(api, labels=labels)
    clock.advance(timedelta(hours=1))

    again = await create(api, labels=list(reversed(labels)))

    assert again["__typename"] == "CreateCustomerSuccess"
    assert again["replayed"] is True
    assert again["customer"] == first["customer"]
    assert await customer_count(api) == 1


async def test_create_customer_with_omitted_description_replays_an_explicit_null(
    api: Api,
) -> None:
    first = await create(api)

    again = await create(api, description=None, labels=None)

    assert again["replayed"] is True
    assert again["customer"]["id"] == first["customer"]["id"]


@pytest.mark.parametrize(
    "changed",
    [{"name": "Acme Ltd."}, {"description": "other"}, {"labels": [{"key": "a", "value": "b"}]}],
)
async def test_create_customer_with_the_same_key_and_another_input_is_a_key_conflict(
    api: Api, changed: dict[str, Any]
) -> None:
    await create(api)

    result = await create(api, **changed)

    assert result["__typename"] == "KeyConflictError"
    assert result["code"] == "KEY_CONFLICT"
    assert result["key"] == "acme"
    assert await customer_count(api) == 1


INVALID_CUSTOMERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"key": ""}, ["input", "key"]),
    ({"key": "k" * 257}, ["input", "key"]),
    ({"name": ""}, ["input", "name"]),
    ({"name": "n" * 257}, ["input", "name"]),
    ({"description": "d" * 1025}, ["input", "description"]),
    ({"labels": [{"key": "ok", "value": "1"}, {"key": "bad key", "value": "2"}]},
     ["input", "labels", "1", "key"]),
    ({"labels": [{"key": "tier", "value": "1"}, {"key": "tier", "value": "2"}]},
     ["input", "labels", "1", "key"]),
    ({"labels": [{"key": "", "value": "1"}]}, ["input", "labels", "0", "key"]),
    ({"labels": [{"key": "k" * 64, "value": "1"}]}, ["input", "labels", "0", "key"]),
    ({"labels": [{"key": "tier", "value": "v" * 257}]}, ["input", "labels", "0", "value"]),
    ({"labels": [{"key": f"k{i}", "value": "v"} for i in range(51)]}, ["input", "labels"]),
]  # fmt: skip


async def test_create_customer_refuses_each_invalid_field_and_writes_nothing(api: Api) -> None:
    found = {}
    for index, (fields, _) in enumerate(INVALID_CUSTOMERS):
        found[case(index, fields)] = outcome(await create(api, **fields))

    assert found == {
        case(i, fields): [field] for i, (fields, field) in enumerate(INVALID_CUSTOMERS)
    }
    assert await customer_count(api) == 0


async def test_create_customer_accepts_the_longest_allowed_values(api: Api) -> None:
    result = await create(
        api,
        key="k" * 256,
        name="n" * 256,
        description="d" * 1024,
        labels=[{"key": "K._-" + "k" * 59, "value": "v" * 256}]
        + [{"key": f"k{i}", "value": ""} for i in range(49)],
    )

    assert result["__typename"] == "CreateCustomerSuccess"
    assert len(result["customer"]["labels"]) == 50


async def test_create_customer_reports_every_issue_at_once(api: Api) -> None:
    result = await create(
        api,
        key="",
        name="",
        labels=[{"key": "tier", "value": "1"}, {"key": "tier", "value": "2"}],
    )

    assert fields_of(result) == [
        ["input", "key"],
        ["input", "name"],
        ["input", "labels", "1", "key"],
    ]


async def test_concurrent_creations_with_one_key_create_one_customer(api: Api) -> None:
    results = await asyncio.gather(*(create(api) for _ in range(4)))

    assert sorted(result["replayed"] for result in results) == [False, True, True, True]
    assert len({result["customer"]["id"] for result in results}) == 1
    assert await customer_count(api) == 1


async def test_a_refused_create_customer_does_not_use_up_its_key(api: Api) -> None:
    refused = await create(api, name="")
    assert refused["__typename"] == "ValidationError"

    result = await create(api, name="Acme Inc.")

    assert result["__typename"] == "CreateCustomerSuccess"
    assert result["replayed"] is False


# ---------------------------------------------------------------- updateCustomer


async def test_update_customer_changes_only_the_fields_it_is_given(
    api: Api, clock: FrozenClock
) -> None:
    created = await create(
        api, description="A wholesale buyer", labels=[{"key": "tier", "value": "gold"}]
    )
    customer_id = created["customer"]["id"]
    clock.advance(timedelta(hours=2))

    result = await update(api, customer_id, name="Acme Group")

    assert result["__typename"] == "UpdateCustomerSuccess"
    assert result["customer"] == {
        "id": customer_id,
        "key": "acme",
        "name": "Acme Group",
        "description": "A wholesale buyer",
        "labels": [{"key": "tier", "value": "gold"}],
        "createdAt": "2026-01-15T12:00:00Z",
        "updatedAt": "2026-01-15T14:00:00Z",
    }
    assert (await api(CUSTOMER, id=customer_id))["customer"] == result["customer"]


async def test_update_customer_with_null_fields_keeps_them(api: Api) -> None:
    created = await create(
        api, description="A wholesale buyer", labels=[{"key": "tier", "value": "gold"}]
    )
    customer_id = created["customer"]["id"]

    result = await update(api, customer_id, name=None, description=None, labels=None)

    customer = result["customer"]
    assert (customer["name"], customer["description"], customer["labels"]) == (
        "Acme Inc.",
        "A wholesale buyer",
        [{"key": "tier", "value": "gold"}],
    )


async def test_update_customer_labels_replace_all_labels(api: Api) -> None:
    created = await create(
        api, labels=[{"key": "tier", "value": "gold"}, {"key": "region", "value": "eu"}]
    )
    customer_id = created["customer"]["id"]

    replaced = await update(api, customer_id, labels=[{"key": "plan", "value": "pro"}])
    cleared = await update(api, customer_id, labels=[])

    assert replaced["customer"]["labels"] == [{"key": "plan", "value": "pro"}]
    assert replaced["customer"]["description"] is None
    assert cleared["customer"]["labels"] == []
    assert (await api(CUSTOMER, id=customer_id))["customer"]["labels"] == []


async def test_update_customer_can_change_the_description(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await update(api, customer_id, description="Now a reseller")

    assert result["customer"]["description"] == "Now a reseller"
    assert result["customer"]["name"] == "Acme Inc."


async def test_update_customer_of_an_unknown_customer_is_not_found(api: Api) -> None:
    result = await update(api, UNKNOWN_CUSTOMER, name="Ghost")

    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "NOT_FOUND"
    assert result["id"] == UNKNOWN_CUSTOMER


async def test_update_customer_with_the_id_of_a_grant_is_not_found(api: Api) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id)

    result = await update(api, grant["id"], name="Ghost")

    assert result["__typename"] == "NotFoundError"
    assert result["id"] == grant["id"]
    assert (await api(CUSTOMER, id=customer_id))["customer"]["name"] == "Acme Inc."


async def test_update_customer_with_a_malformed_id_is_a_validation_error(api: Api) -> None:
    result = await update(api, "customer-1", name="Ghost")

    assert fields_of(result) == [["input", "customerId"]]


INVALID_UPDATES: list[tuple[dict[str, Any], list[str]]] = [
    ({"name": ""}, ["input", "name"]),
    ({"name": "n" * 257}, ["input", "name"]),
    ({"description": "d" * 1025}, ["input", "description"]),
    ({"labels": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
     ["input", "labels", "1", "key"]),
    ({"labels": [{"key": "ok", "value": "1"}, {"key": "no way", "value": "2"}]},
     ["input", "labels", "1", "key"]),
]  # fmt: skip


async def test_update_customer_refuses_each_invalid_field_and_changes_nothing(
    api: Api, clock: FrozenClock
) -> None:
    created = await create(api, labels=[{"key": "tier", "value": "gold"}])
    customer_id = created["customer"]["id"]
    clock.advance(timedelta(hours=1))

    found = {}
    for index, (fields, _) in enumerate(INVALID_UPDATES):
        found[case(index, fields)] = outcome(await update(api, customer_id, **fields))

    assert found == {case(i, fields): [field] for i, (fields, field) in enumerate(INVALID_UPDATES)}
    assert (await api(CUSTOMER, id=customer_id))["customer"] == created["customer"]
