"""The read side's queries return plain rows: labels as their JSON text, a portal scope
that hides other customers, counts and pages for every parent asked about, and the
grants whose credits expire soon. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from app.api.common import Label, stored_labels
from app.api.customers import Customer
from app.domain.ids import new_id
from app.domain.time import FrozenClock, parse_duration
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.queries import customers, grants, ledger
from app.storage.queries.grants import GrantQuery
from app.storage.queries.ledger import LedgerQuery
from app.storage.queries.pages import Page
from tests.services.support import consume, promo
from tests.storage.test_postgres import both, pg_runtime

__all__ = ["both", "pg_runtime"]


async def two_customers(runtime: Runtime, clock: FrozenClock) -> tuple[str, str]:
    """Gold with two grants (one expiring in 2 days) and three draws; Silver with one grant."""
    gold, _ = await create_customer(runtime, key="gold", name="Gold", labels=(("tier", "gold"),))
    silver, _ = await create_customer(runtime, key="silver", name="Silver")
    await promo(runtime, gold, "10", labels=(("source", "signup"),))
    clock.advance(timedelta(minutes=1))
    await promo(runtime, gold, "5", expires_after=parse_duration("P2D"))
    await promo(runtime, silver, "7")
    for n in range(3):
        clock.advance(timedelta(minutes=1))
        await consume(runtime, gold, "1", f"draw-{n}")
    return gold, silver


async def test_rows_carry_labels_as_json_text_that_the_api_decodes_when_asked(
    both: Runtime, clock: FrozenClock
) -> None:
    gold, silver = await two_customers(both, clock)
    async with read_connection(both.engine) as connection:
        rows = await customers.by_ids(connection, [gold, silver], None)
        grant_rows = await grants.pages(
            connection, [gold], GrantQuery(), Page(5, False), clock.now()
        )
    found = {row.key: row.labels for row in rows}
    assert {key: json.loads(text) for key, text in found.items()} == {
        "gold": [["tier", "gold"]],
        "silver": [],
    }
    assert all(isinstance(text, str) for text in found.values())
    gold_row = next(row for row in rows if row.key == "gold")
    assert stored_labels(Customer.from_row(gold_row)) == [Label(key="tier", value="gold")]
    assert [json.loads(row.labels) for row in grant_rows[gold].rows] == [
        [["source", "signup"]],
        [],
    ]


async def test_a_portal_scope_hides_every_other_customer(both: Runtime, clock: FrozenClock) -> None:
    gold, silver = await two_customers(both, clock)
    async with read_connection(both.engine) as connection:
        assert await customers.by_key(connection, "silver", gold) is None
        own = await customers.by_key(connection, "gold", gold)
        silver_grants = await grants.pages(
            connection, [silver], GrantQuery(), Page(5, False), clock.now()
        )
        grant_id = silver_grants[silver].rows[0].id
        assert await grants.by_ids(connection, [grant_id], gold) == []
        assert [row.id for row in await grants.by_ids(connection, [grant_id], silver)] == [grant_id]
        everyone = await ledger.pages(
            connection, "all", [None], LedgerQuery(), Page(50, False), gold
        )
    assert own is not None and own.id == gold
    assert {row.customer_id for row in everyone[None].rows} == {gold}


async def test_counts_answer_for_every_parent_asked_about(
    both: Runtime, clock: FrozenClock
) -> None:
    gold, silver = await two_customers(both, clock)
    nobody = new_id("customer")
    consumed = LedgerQuery(types=("CONSUMED",))
    async with read_connection(both.engine) as connection:
        grant_counts = await grants.counts(
            connection, [gold, silver, nobody], GrantQuery(), clock.now()
        )
        entry_counts = await ledger.counts(connection, "customer", [gold, nobody], consumed, None)
        all_entries = await ledger.counts(connection, "all", [None], LedgerQuery(), None)
        customer_count = await customers.count(connection, customers.CustomerQuery(), silver)
    assert grant_counts == {gold: 2, silver: 1, nobody: 0}
    assert entry_counts == {gold: 3, nobody: 0}
    assert all_entries == {None: 3 + 3}  # three FUNDED and three CONSUMED entries
    assert customer_count == 1


async def test_each_parent_gets_its_own_page_newest_first(
    both: Runtime, clock: FrozenClock
) -> None:
    gold, silver = await two_customers(both, clock)
    nobody = new_id("customer")
    async with read_connection(both.engine) as connection:
        pages = await ledger.pages(
            connection, "customer", [gold, silver, nobody], LedgerQuery(), Page(2, False), None
        )
        older = await ledger.pages(
            connection, "customer", [gold], LedgerQuery(), Page(2, True), None
        )
    assert [row.type for row in pages[gold].rows] == ["CONSUMED", "CONSUMED"]
    assert [row.sequence for row in pages[gold].rows] == [5, 4]
    assert (pages[gold].has_next, pages[gold].has_previous) == (True, False)
    assert [row.type for row in pages[silver].rows] == ["FUNDED"]
    assert (pages[silver].has_next, pages[nobody].rows) == (False, [])
    assert [row.sequence for row in older[gold].rows] == [2, 1]  # the last page, newest first
    assert (older[gold].has_next, older[gold].has_previous) == (False, True)


async def test_expiring_grants_are_those_funded_live_and_expiring_by_the_instant(
    both: Runtime, clock: FrozenClock
) -> None:
    gold, silver = await two_customers(both, clock)
    now = clock.now()
    async with read_connection(both.engine) as connection:
        soon = await grants.expiring(connection, [gold, silver], now, now + timedelta(days=3), None)
        not_yet = await grants.expiring(connection, [gold], now, now + timedelta(days=1), None)
        in_eur = await grants.expiring(connection, [gold], now, now + timedelta(days=3), "EUR")
    assert [(row.customer_id, row.amount, row.remaining) for row in soon] == [(gold, 500, 200)]
    assert not_yet == [] and in_eur == []
