"""Creating and updating customers (DESIGN §2 Customers, §7 keys)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.domain.errors import KeyConflict, NotFound, ValidationFailed
from app.domain.ids import new_id
from app.services.customers import create_customer, update_customer
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.tables import customers
from tests.services.support import fields_of, row_counts


async def customer(runtime: Runtime, customer_id: str) -> dict[str, object]:
    async with read_connection(runtime.engine) as connection:
        statement = select(customers).where(customers.c.id == customer_id)
        return dict((await connection.execute(statement)).one()._mapping)


async def test_a_new_customer_is_stored_with_its_key_name_description_and_labels(runtime):
    customer_id, replayed = await create_customer(
        runtime, key="acme", name="Acme", description="Rockets", labels=(("tier", "gold"),)
    )

    assert replayed is False
    assert customer_id.startswith("cus_")
    stored = await customer(runtime, customer_id)
    assert (stored["key"], stored["name"], stored["description"]) == ("acme", "Acme", "Rockets")
    assert stored["labels"] == [["tier", "gold"]]
    assert stored["created_at"] == runtime.clock.now()


async def test_creating_a_customer_again_with_the_same_key_and_input_replays_the_first(runtime):
    first, _ = await create_customer(
        runtime, key="acme", name="Acme", labels=(("a", "1"), ("b", "2"))
    )
    counts = await row_counts(runtime.engine)

    again, replayed = await create_customer(
        runtime, key="acme", name="Acme", labels=(("b", "2"), ("a", "1"))
    )

    assert (again, replayed) == (first, True)
    assert await row_counts(runtime.engine) == counts


async def test_omitted_labels_equal_empty_labels_when_replaying_a_customer(runtime):
    first, _ = await create_customer(runtime, key="acme", name="Acme")

    assert await create_customer(runtime, key="acme", name="Acme", labels=()) == (first, True)


async def test_the_same_customer_key_with_another_name_is_a_key_conflict(runtime):
    await create_customer(runtime, key="acme", name="Acme")

    with pytest.raises(KeyConflict) as raised:
        await create_customer(runtime, key="acme", name="Acme Inc")

    assert raised.value.key == "acme"
    assert (await row_counts(runtime.engine))["customer"] == 1


async def test_an_invalid_customer_reports_every_issue_and_writes_nothing(runtime):
    labels = (("ok", "1"), ("bad key!", "2"), ("ok", "3"), ("long", "x" * 257))

    with pytest.raises(ValidationFailed) as raised:
        await create_customer(
            runtime, key="", name="n" * 257, description="d" * 1025, labels=labels
        )

    assert fields_of(raised.value) == [
        ("input", "key"),
        ("input", "name"),
        ("input", "description"),
        ("input", "labels", "1", "key"),
        ("input", "labels", "2", "key"),
        ("input", "labels", "3", "value"),
    ]
    assert (await row_counts(runtime.engine))["customer"] == 0


async def test_more_than_fifty_customer_labels_are_refused_on_labels(runtime):
    labels = tuple((f"k{index}", "v") for index in range(51))

    with pytest.raises(ValidationFailed) as raised:
        await create_customer(runtime, key="acme", name="Acme", labels=labels)

    assert fields_of(raised.value) == [("input", "labels")]


async def test_a_key_of_256_characters_is_accepted_and_257_is_refused(runtime):
    await create_customer(runtime, key="k" * 256, name="Acme")

    with pytest.raises(ValidationFailed) as raised:
        await create_customer(runtime, key="k" * 257, name="Acme")

    assert fields_of(raised.value) == [("input", "key")]


async def test_a_refused_customer_does_not_use_up_its_key(runtime):
    with pytest.raises(ValidationFailed):
        await create_customer(runtime, key="acme", name="")

    customer_id, replayed = await create_customer(runtime, key="acme", name="Acme")

    assert replayed is False
    assert (await customer(runtime, customer_id))["name"] == "Acme"


async def test_updating_a_customer_changes_only_the_fields_given(runtime, clock):
    customer_id, _ = await create_customer(
        runtime, key="acme", name="Acme", description="Rockets", labels=(("tier", "gold"),)
    )
    clock.advance(timedelta(hours=1))

    await update_customer(runtime, customer_id=customer_id, name="Acme Corp")

    stored = await customer(runtime, customer_id)
    assert (stored["name"], stored["description"], stored["labels"]) == (
        "Acme Corp",
        "Rockets",
        [["tier", "gold"]],
    )
    assert stored["updated_at"] == clock.now()


async def test_updating_labels_replaces_all_labels(runtime):
    customer_id, _ = await create_customer(
        runtime, key="acme", name="Acme", labels=(("tier", "gold"), ("region", "eu"))
    )

    await update_customer(runtime, customer_id=customer_id, labels=(("tier", "silver"),))

    assert (await customer(runtime, customer_id))["labels"] == [["tier", "silver"]]


async def test_updating_an_unknown_customer_is_not_found(runtime):
    unknown = new_id("customer")

    with pytest.raises(NotFound) as raised:
        await update_customer(runtime, customer_id=unknown, name="Nobody")

    assert raised.value.id == unknown


async def test_updating_with_a_malformed_id_and_empty_name_reports_both_issues(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await update_customer(runtime, customer_id="nope", name="")

    assert fields_of(raised.value) == [("input", "customerId"), ("input", "name")]
