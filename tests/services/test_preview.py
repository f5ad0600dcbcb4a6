"""The consumption preview (DESIGN §15) on SQLite and PostgreSQL: the plan consumeCredits
then books, REJECT and PARTIAL, the balance with the same featureKey, every validation
failure, catch-up of due events, and that the preview itself writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.domain.errors import InsufficientCredits, NotFound, ValidationFailed
from app.domain.ids import new_id
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.services.consumption import (
    InsufficientCreditsBehavior,
    Preview,
    PreviewRequest,
    preview_consumption,
)
from app.services.customers import create_customer
from app.services.grants import PurchaseTerms
from app.services.runtime import Runtime
from app.services.settlement import void_credit_grant
from app.storage.engine import read_connection
from app.storage.tables import entries
from tests.services.support import balance, consume, fields_of, promo, purchase, row_counts
from tests.services.test_write_path import kind, recorded

PARTIAL = InsufficientCreditsBehavior.PARTIAL


async def preview(
    runtime: Runtime, customer_id: str, amount: str, currency: str = "USD", **fields: Any
) -> Preview:
    request = PreviewRequest(
        customer_id=customer_id, currency=currency, amount=Decimal(amount), **fields
    )
    return await preview_consumption(runtime, request)


def draws(found: Preview) -> list[tuple[str, int]]:
    return [(grant.id, take) for grant, take in found.plan.draws]


async def consumed_entries(runtime: Runtime, consumption_id: str) -> list[tuple[str, int]]:
    """(grant id, amount drawn) of a consumption's entries, in the order they were booked."""
    statement = (
        select(entries.c.grant_id, entries.c.amount)
        .where(entries.c.consumption_id == consumption_id, entries.c.type == "CONSUMED")
        .order_by(entries.c.sequence)
    )
    async with read_connection(runtime.engine) as connection:
        return [(str(g), -int(a)) for g, a in await connection.execute(statement)]


async def customer(runtime: Runtime) -> str:
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    return customer_id


async def four_grants(runtime: Runtime, clock: FrozenClock) -> tuple[str, dict[str, str]]:
    """Burn order for feature `api`: R (restricted), S (soonest expiry), C (cheap), P (paid);
    L (priority 20) last. Without a featureKey R is not eligible."""
    customer_id = await customer(runtime)
    made = {
        "L": await promo(runtime, customer_id, "10", priority=20),
        "P": await purchase(runtime, customer_id, "10", terms=PurchaseTerms(cost_basis=Decimal(2))),
        "C": await promo(runtime, customer_id, "10"),
        "S": await promo(runtime, customer_id, "10", expires_at=clock.now() + timedelta(days=3)),
        "R": await promo(runtime, customer_id, "10", features=("api",)),
    }
    return customer_id, {name: outcome.grant_id for name, outcome in made.items()}


async def test_a_preview_shows_the_draws_the_consumption_then_books(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id, g = await four_grants(runtime, clock)

    found = await preview(runtime, customer_id, "25.5", feature_key="api")
    made = await consume(runtime, customer_id, "25.5", key="use", feature_key="api")

    assert draws(found) == [(g["R"], 1000), (g["S"], 1000), (g["C"], 550)]
    assert await consumed_entries(runtime, made.consumption_id) == draws(found)
    assert (found.plan.consumed, found.plan.shortfall) == (2550, 0)
    assert (found.available_before, found.available_after) == (5000, 2450)
    assert found.available_after == made.balance.available  # no featureKey there: all credits


async def test_the_balances_are_those_with_the_same_feature_key(
    both: Runtime, clock: FrozenClock
) -> None:
    """Without a featureKey the restricted grant is not drawn but its credits count in the
    balance (creditBalance without featureKey); with another feature they do not count."""
    runtime = both
    customer_id, g = await four_grants(runtime, clock)

    plain = await preview(runtime, customer_id, "15")
    other = await preview(runtime, customer_id, "15", feature_key="storage")

    assert draws(plain) == draws(other) == [(g["S"], 1000), (g["C"], 500)]
    assert (plain.available_before, plain.available_after) == (5000, 3500)
    assert (other.available_before, other.available_after) == (4000, 2500)
    for found, feature in ((plain, None), (other, "storage")):
        read = await balance(runtime, customer_id, feature_key=feature)
        assert read.available == found.available_before


async def test_under_reject_a_shortfall_draws_nothing_and_the_consumption_is_refused(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id, _ = await four_grants(runtime, clock)

    found = await preview(runtime, customer_id, "45")  # 40 without the restricted grant
    with pytest.raises(InsufficientCredits) as refused:
        await consume(runtime, customer_id, "45", key="use")

    assert (found.plan.consumed, found.plan.shortfall, draws(found)) == (0, 500, [])
    assert (found.available_before, found.available_after) == (5000, 5000)
    assert refused.value.available == Decimal(40)


async def test_under_partial_a_shortfall_draws_everything_eligible(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id, g = await four_grants(runtime, clock)

    found = await preview(runtime, customer_id, "45", on_insufficient=PARTIAL)
    made = await consume(runtime, customer_id, "45", key="use", on_insufficient=PARTIAL)

    assert draws(found) == [(g["S"], 1000), (g["C"], 1000), (g["P"], 1000), (g["L"], 1000)]
    assert await consumed_entries(runtime, made.consumption_id) == draws(found)
    assert (found.plan.consumed, found.plan.shortfall) == (4000, 500)
    assert (found.available_before, found.available_after) == (5000, 1000)


async def test_a_preview_writes_nothing_it_only_reads_without_a_lock(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id, _ = await four_grants(runtime, clock)
    await preview(runtime, customer_id, "1")  # the connection's first statements
    before = await row_counts(runtime.engine)

    with recorded(runtime.engine) as statements:
        for amount, behavior in (("25", None), ("100", None), ("100", PARTIAL)):
            fields = {} if behavior is None else {"on_insufficient": behavior}
            await preview(runtime, customer_id, amount, feature_key="api", **fields)

    # each: a read transaction (SQLite: BEGIN DEFERRED, PostgreSQL: the driver's) with the
    # customer's state, then its spendable and pending grants; no BEGIN IMMEDIATE, no FOR
    # UPDATE, no INSERT or UPDATE
    begin = ["BEGIN DEFERRED"] if runtime.engine.dialect.name == "sqlite" else []
    assert [kind(s) for s in statements] == [*begin, "read", "read"] * 3
    assert await row_counts(runtime.engine) == before


async def test_events_due_are_booked_first_as_any_read_books_them(
    both: Runtime, clock: FrozenClock
) -> None:
    """DESIGN §5: a read of a customer books what is due. The preview books the expiry of
    S and the funding of a grant effective now, as SYSTEM, and nothing else."""
    runtime = both
    customer_id, g = await four_grants(runtime, clock)
    later = await promo(runtime, customer_id, "10", effective_at=clock.now() + timedelta(days=4))
    clock.advance(timedelta(days=5))

    found = await preview(runtime, customer_id, "15")
    async with read_connection(runtime.engine) as connection:
        booked = (
            await connection.execute(
                select(entries.c.type, entries.c.grant_id, entries.c.actor_type)
                .where(entries.c.customer_id == customer_id)
                .order_by(entries.c.sequence)
            )
        ).all()
    made = await consume(runtime, customer_id, "15", key="use")

    assert [tuple(row) for row in booked[5:]] == [
        ("EXPIRED", g["S"], "SYSTEM"),
        ("FUNDED", later.grant_id, "SYSTEM"),
    ]
    assert draws(found) == [(g["C"], 1000), (later.grant_id, 500)]
    assert await consumed_entries(runtime, made.consumption_id) == draws(found)


async def test_voided_and_pending_grants_are_not_drawn(both: Runtime, clock: FrozenClock) -> None:
    runtime = both
    customer_id, g = await four_grants(runtime, clock)
    await void_credit_grant(runtime, actor=OPEN, grant_id=g["S"])
    await promo(runtime, customer_id, "10", effective_at=clock.now() + timedelta(days=1))

    found = await preview(runtime, customer_id, "12")

    assert draws(found) == [(g["C"], 1000), (g["P"], 200)]
    assert found.available_before == 4000  # L, P, C and the restricted R


async def test_every_bad_argument_is_named_at_once_and_nothing_is_read(runtime: Runtime) -> None:
    with pytest.raises(ValidationFailed) as raised:
        await preview(runtime, "acme", "0", feature_key="Api")
    with pytest.raises(ValidationFailed) as currency:
        await preview(runtime, new_id("customer"), "1", "MISSING")
    with pytest.raises(ValidationFailed) as places:
        await preview(runtime, new_id("customer"), "1.005")

    assert fields_of(raised.value) == [("customerId",), ("amount",), ("featureKey",)]
    assert fields_of(currency.value) == [("currency",)]
    assert fields_of(places.value) == [("amount",)]


async def test_an_unknown_customer_and_another_than_the_scope_are_not_found(
    runtime: Runtime,
) -> None:
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    other = new_id("customer")
    request = PreviewRequest(customer_id=customer_id, currency="USD", amount=Decimal(1))

    with pytest.raises(NotFound) as unknown:
        await preview(runtime, other, "1")
    with pytest.raises(NotFound) as scoped:
        await preview_consumption(runtime, request, scope=other)
    own = await preview_consumption(runtime, request, scope=customer_id)

    assert unknown.value.message == f"Customer {other} not found"
    assert scoped.value.message == f"Customer {customer_id} not found"
    assert own.plan.consumed == 100
