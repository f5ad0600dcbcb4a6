"""One instant per write, taken after the lock and never before the ledger's last bookedAt.

A clock that steps back (NTP, a VM restored) must not make a write describe an instant
before entries it just wrote: the result balance, the entries and the published change
share one instant, and bookedAt never decreases along a customer's ledger (DESIGN §5, §8).
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import Row

from app.domain.time import FrozenClock, parse_duration
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.services.verify import verify
from tests.services.support import balance, consume, ledger, promo, purchase

HOUR = timedelta(hours=1)


async def customer(runtime: Runtime) -> str:
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    return customer_id


def booked_in_order(rows: list[Row[Any]]) -> bool:
    return all(a.booked_at <= b.booked_at for a, b in pairwise(rows))


async def test_a_grant_after_the_clock_stepped_back_answers_the_balance_the_ledger_holds(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    first = clock.now()
    clock.advance(-HOUR)

    outcome = await purchase(runtime, customer_id, "15")

    rows = await ledger(runtime.engine, customer_id)
    assert [(r.type, r.amount, r.booked_at) for r in rows] == [
        ("FUNDED", 1000, first),
        ("FUNDED", 1500, first),
    ]
    assert (outcome.balance.at, outcome.balance.available, outcome.balance.sequence) == (
        first,
        2500,
        2,
    )
    committed = runtime.publisher.published[-1]  # type: ignore[attr-defined]
    assert (committed.at, committed.sequences) == (first, {"USD": 2})
    assert await verify(runtime.engine) == []


async def test_a_consumption_after_the_clock_stepped_back_books_at_the_last_instant(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    first = clock.now()
    clock.advance(-HOUR)

    outcome = await consume(runtime, customer_id, "4", key="draw")
    clock.advance(2 * HOUR)
    later = await consume(runtime, customer_id, "1", key="draw-2")

    rows = await ledger(runtime.engine, customer_id)
    assert [(r.type, r.amount, r.booked_at, r.created_at) for r in rows] == [
        ("FUNDED", 1000, first, first),
        ("CONSUMED", -400, first, first),
        ("CONSUMED", -100, first + HOUR, first + HOUR),
    ]
    assert (outcome.balance.at, outcome.balance.available) == (first, 600)
    assert (later.balance.at, later.balance.available) == (first + HOUR, 500)
    assert booked_in_order(rows)


async def test_the_last_booked_at_of_any_currency_holds_the_instant_back(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10", currency="EUR")
    first = clock.now()
    clock.advance(-HOUR)

    outcome = await promo(runtime, customer_id, "3")

    [entry] = await ledger(runtime.engine, customer_id)
    assert (entry.booked_at, outcome.balance.at, outcome.balance.available) == (first, first, 300)


async def test_a_grant_effective_between_the_clock_and_the_last_entry_is_funded_at_once(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id = await customer(runtime)
    start = clock.now()
    await promo(runtime, customer_id, "10", expires_after=parse_duration("PT2H"))
    clock.advance(3 * HOUR)
    await promo(runtime, customer_id, "1")  # catches up the expiry at start + 2h first
    clock.advance(-2 * HOUR)

    outcome = await promo(runtime, customer_id, "5", effective_at=start + 2 * HOUR)

    assert await book_due_events(runtime) == 0
    rows = await ledger(runtime.engine, customer_id)
    assert [(r.type, r.amount, r.booked_at - start) for r in rows] == [
        ("FUNDED", 1000, timedelta(0)),
        ("EXPIRED", -1000, 2 * HOUR),
        ("FUNDED", 100, 3 * HOUR),
        ("FUNDED", 500, 3 * HOUR),
    ]
    assert (outcome.balance.at, outcome.balance.available) == (start + 3 * HOUR, 600)
    figures = await balance(runtime, customer_id, at=start + 3 * HOUR)
    assert (figures.available, figures.pending) == (600, 0)
    assert await verify(runtime.engine) == []
