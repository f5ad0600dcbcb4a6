"""Races at the service level against a real SQLite file (DESIGN §7, §8).

Each call opens its own connection from the engine's pool, so these are real
concurrent transactions serialized by SQLite's IMMEDIATE write lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select

from app.domain.errors import InsufficientCredits, ValidationFailed
from app.domain.ledger import OPEN
from app.domain.time import parse_duration
from app.services.currencies import create_custom_currency
from app.services.customers import create_customer
from app.services.reversal import reverse_credit_consumption
from app.services.scheduling import book_due_events
from app.services.verify import verify
from app.storage.engine import read_connection
from app.storage.tables import currencies, customers, grants
from tests.services.support import D, balance, consume, ledger, promo, purchase


def outcomes(results: Sequence[object]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        name = type(result).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


async def test_fifty_concurrent_draws_of_one_against_twenty_never_overdraw(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "20")

    results = await asyncio.gather(
        *(consume(runtime, customer_id, "1", key=f"draw-{n}") for n in range(50)),
        return_exceptions=True,
    )

    assert outcomes(results) == {"ConsumptionOutcome": 20, "InsufficientCredits": 30}
    refusals = [r for r in results if isinstance(r, InsufficientCredits)]
    assert {r.available for r in refusals} == {D("0")}
    figures = await balance(runtime, customer_id)
    assert (figures.available, figures.consumed, figures.sequence) == (0, 2000, 21)
    entries = await ledger(runtime.engine, customer_id)
    assert [e.sequence for e in entries] == list(range(1, 22))
    assert [e.balance_after for e in entries] == [2000, *range(1900, -100, -100)]
    assert await verify(runtime.engine) == []


async def test_twenty_concurrent_identical_keyed_purchases_create_one_grant(runtime, make_customer):
    customer_id = await make_customer()

    results = await asyncio.gather(
        *(purchase(runtime, customer_id, "25.00", key="order-42") for _ in range(20))
    )

    assert len({r.grant_id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * 19
    async with read_connection(runtime.engine) as connection:
        assert (
            await connection.execute(select(func.count()).select_from(grants))
        ).scalar_one() == 1
    assert (await balance(runtime, customer_id)).available == 2500
    assert await verify(runtime.engine) == []


async def test_concurrent_creations_of_one_customer_key_create_one_customer(runtime):
    results = await asyncio.gather(
        *(create_customer(runtime, key="acme", name="Acme") for _ in range(20))
    )

    assert len({customer_id for customer_id, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 19
    async with read_connection(runtime.engine) as connection:
        assert (
            await connection.execute(select(func.count()).select_from(customers))
        ).scalar_one() == 1


async def test_concurrent_identical_keyed_consumptions_draw_once(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")

    results = await asyncio.gather(
        *(consume(runtime, customer_id, "3", key="c") for _ in range(15))
    )

    assert len({r.consumption_id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * 14
    assert (await balance(runtime, customer_id)).available == 700


async def test_concurrent_reversals_never_give_back_more_than_was_consumed(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    consumption = await consume(runtime, customer_id, "5", key="c")

    results = await asyncio.gather(
        *(
            reverse_credit_consumption(
                runtime,
                actor=OPEN,
                consumption_id=consumption.consumption_id,
                key=f"r{n}",
                amount=D("1"),
            )
            for n in range(12)
        ),
        return_exceptions=True,
    )

    assert outcomes(results) == {"ReversalOutcome": 5, "ValidationFailed": 7}
    assert all(
        r.issues[0].field == ("input", "amount") for r in results if isinstance(r, ValidationFailed)
    )
    assert (await balance(runtime, customer_id)).available == 1000
    assert await verify(runtime.engine) == []


async def test_concurrent_sweeps_and_requests_book_each_event_exactly_once(
    runtime, make_customer, clock
):
    customer_ids = [await make_customer() for _ in range(4)]
    for customer_id in customer_ids:
        await promo(runtime, customer_id, "5", effective_at=clock.now() + timedelta(minutes=1))
        await promo(runtime, customer_id, "5", expires_after=parse_duration("PT2M"))
    clock.advance(timedelta(minutes=10))

    await asyncio.gather(
        *(book_due_events(runtime) for _ in range(5)),
        *(consume(runtime, customer_id, "1", key="c") for customer_id in customer_ids),
    )

    for customer_id in customer_ids:
        types = sorted(e.type for e in await ledger(runtime.engine, customer_id))
        assert types == ["CONSUMED", "EXPIRED", "FUNDED", "FUNDED"]
    assert await verify(runtime.engine) == []


async def test_concurrent_identical_keyed_reversals_restore_once(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    consumption = await consume(runtime, customer_id, "5", key="c")

    results = await asyncio.gather(
        *(
            reverse_credit_consumption(
                runtime,
                actor=OPEN,
                consumption_id=consumption.consumption_id,
                key="refund",
                amount=D("2"),
            )
            for _ in range(10)
        )
    )

    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    assert len({tuple(r.entry_ids) for r in results}) == 1
    assert (await balance(runtime, customer_id)).available == 700


async def test_concurrent_creations_of_one_custom_currency_create_one(runtime):
    results = await asyncio.gather(
        *(create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=2) for _ in range(10))
    )

    assert sorted(replayed for _, replayed in results) == [False] + [True] * 9
    async with read_connection(runtime.engine) as connection:
        assert (
            await connection.execute(select(func.count()).select_from(currencies))
        ).scalar_one() == 1
