"""A request books the due events of the customers it reads, and no one else's (DESIGN §5).

A read of customer A books A's due expiry and funding, exact at the request's instant, and
leaves B's to the scheduler; a request that touches no customer with anything due runs no
write transaction at all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import START, Api
from tests.api.test_queries_helpers import balance, consume, create_customer, instant, promo
from tests.services.support import ledger as stored_ledger

HOUR = timedelta(hours=1)
EXPIRES = START + 2 * HOUR


def writes(statements: list[str]) -> list[str]:
    """The statements that write or open a write transaction (SQLite: BEGIN IMMEDIATE)."""
    verbs = ("BEGIN IMMEDIATE", "INSERT", "UPDATE", "DELETE")
    return [s for s in statements if s.lstrip().upper().startswith(verbs)]


async def stored(api: Api, customer_id: str) -> list[tuple[str, str, Any]]:
    rows = await stored_ledger(api.app.state.runtime.engine, customer_id)
    return [(row.type, row.actor_type, row.booked_at) for row in rows]


@pytest.fixture
async def two(api: Api, clock: FrozenClock) -> dict[str, str]:
    """A and B each hold 10 USD that expire at START + 2h; it is now 3h later."""
    customers = {}
    for name in ("a", "b"):
        customers[name] = customer_id = await create_customer(api, name)
        await promo(api, customer_id, "10", expiresAt=instant(EXPIRES))
    clock.set(START + 3 * HOUR)
    api.count_statements()
    return customers


async def test_reading_a_books_a_due_expiry_of_a_and_not_of_b(api: Api, two: dict[str, str]):
    figures = await balance(api, two["a"])

    assert (figures["available"], figures["expired"]) == ("0.00", "10.00")
    assert await stored(api, two["a"]) == [
        ("FUNDED", "OPEN", START),
        ("EXPIRED", "SYSTEM", EXPIRES),
    ]
    assert await stored(api, two["b"]) == [("FUNDED", "OPEN", START)]


async def test_a_read_of_a_customer_with_nothing_due_writes_nothing(
    api: Api, two: dict[str, str]
) -> None:
    c = await create_customer(api, "c")
    await promo(api, c, "5")
    api.statements.clear()

    figures = await balance(api, c)
    grants = await api(
        "query($id: ID!) { customer(id: $id) { creditGrants { edges { node { remaining } } } "
        'upcomingCreditExpirations(within: "P30D") { amount } } }',
        id=c,
    )

    assert figures["available"] == "5.00"
    assert grants["customer"]["creditGrants"]["edges"] == [{"node": {"remaining": "5.00"}}]
    assert writes(api.statements) == []
    assert await stored(api, two["a"]) == [("FUNDED", "OPEN", START)]  # A and B still due


async def test_customers_and_entries_alone_book_nothing(api: Api, two: dict[str, str]):
    [entry] = await stored_ledger(api.app.state.runtime.engine, two["a"])
    api.statements.clear()

    data = await api(
        "query($id: ID!, $entry: ID!) { customer(id: $id) { key name } "
        "node(id: $entry) { ... on CreditLedgerEntry { amount } } "
        "customers { edges { node { key } } } }",
        id=two["a"],
        entry=entry.id,
    )

    assert data["customer"] == {"key": "a", "name": "a"}
    assert data["node"] == {"amount": "10.00"}
    assert writes(api.statements) == []


async def test_a_grant_looked_up_by_id_books_its_owner_first(api: Api, two: dict[str, str]):
    [funded] = await stored_ledger(api.app.state.runtime.engine, two["b"])

    data = await api(
        "query($id: ID!) { node(id: $id) { ... on CreditGrant { status remaining expired } } }",
        id=funded.grant_id,
    )

    assert data["node"] == {"status": "EXPIRED", "remaining": "0.00", "expired": "10.00"}
    assert await stored(api, two["b"]) == [
        ("FUNDED", "OPEN", START),
        ("EXPIRED", "SYSTEM", EXPIRES),
    ]
    assert await stored(api, two["a"]) == [("FUNDED", "OPEN", START)]


async def test_a_page_of_customers_books_the_due_customers_of_the_page_only(
    api: Api, two: dict[str, str], clock: FrozenClock
) -> None:
    data = await api(
        "{ customers(first: 1) { edges { node { key creditBalances { available } } } } }"
    )

    [edge] = data["customers"]["edges"]
    first, other = (two["a"], two["b"]) if edge["node"]["key"] == "a" else (two["b"], two["a"])
    assert edge["node"]["creditBalances"] == [{"available": "0.00"}]
    assert [t for t, _, _ in await stored(api, first)] == ["FUNDED", "EXPIRED"]
    assert [t for t, _, _ in await stored(api, other)] == ["FUNDED"]


async def test_a_write_to_b_books_b_and_not_a(api: Api, two: dict[str, str]):
    await promo(api, two["b"], "1")

    assert [t for t, _, _ in await stored(api, two["b"])] == ["FUNDED", "EXPIRED", "FUNDED"]
    assert await stored(api, two["a"]) == [("FUNDED", "OPEN", START)]


async def test_the_root_ledger_books_every_due_event_first(api: Api, two: dict[str, str]):
    data = await api("{ creditLedger(first: 10) { totalCount edges { node { type } } } }")

    assert data["creditLedger"]["totalCount"] == 4
    types = [edge["node"]["type"] for edge in data["creditLedger"]["edges"]]
    assert sorted(types) == ["EXPIRED", "EXPIRED", "FUNDED", "FUNDED"]


async def test_the_root_ledger_of_consumptions_only_books_nothing(api: Api, two: dict[str, str]):
    """Catch-up books only FUNDED and EXPIRED entries: this answer is exact without them."""
    c = await create_customer(api, "c")
    await promo(api, c, "5")
    await consume(api, c, "k", "1")
    api.statements.clear()

    data = await api(
        "{ creditLedger(filter: { types: [CONSUMED] }) { totalCount edges { node { amount } } } }"
    )

    assert data["creditLedger"] == {"totalCount": 1, "edges": [{"node": {"amount": "-1.00"}}]}
    assert writes(api.statements) == []
    assert await stored(api, two["b"]) == [("FUNDED", "OPEN", START)]


async def test_a_balance_at_an_earlier_instant_is_the_same_before_and_after_booking(
    api: Api, two: dict[str, str]
) -> None:
    before_expiry = instant(EXPIRES - timedelta(microseconds=1))
    at_expiry = instant(EXPIRES)

    first = await balance(api, two["a"], at=before_expiry)
    second = await balance(api, two["a"], at=at_expiry)
    again = await balance(api, two["a"], at=before_expiry)

    assert (first["available"], first["sequence"]) == ("10.00", 1)
    assert (second["available"], second["expired"], second["sequence"]) == ("0.00", "10.00", 2)
    assert again == first
