"""Time-driven funding and expiry booked by the scheduler's sweep (DESIGN §5)."""

from __future__ import annotations

from datetime import timedelta

from app.domain.grants import AvailabilityPolicy, GrantStatus
from app.domain.time import parse_duration
from app.services.grants import PurchaseTerms
from app.services.scheduling import book_due_events
from app.services.verify import verify
from tests.services.support import (
    balance,
    consume,
    grant_row,
    grant_status,
    ledger,
    promo,
    purchase,
)

ON_SETTLEMENT = PurchaseTerms(availability_policy=AvailabilityPolicy.ON_SETTLEMENT)


async def test_a_sweep_with_nothing_due_books_nothing(runtime, make_customer, clock):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "1", effective_at=clock.now() + timedelta(days=1))

    assert await book_due_events(runtime) == 0
    assert await ledger(runtime.engine, customer_id) == []


async def test_funding_at_a_future_effective_at_is_booked_at_that_instant_by_the_system(
    runtime, make_customer, clock, publisher
):
    customer_id = await make_customer()
    start = clock.now() + timedelta(hours=1)
    grant = await promo(runtime, customer_id, "10", effective_at=start)
    assert (await balance(runtime, customer_id)).pending == 1000
    clock.advance(timedelta(hours=1, seconds=1))

    assert await book_due_events(runtime) == 1

    [entry] = await ledger(runtime.engine, customer_id)
    assert (entry.type, entry.amount, entry.booked_at, entry.created_at) == (
        "FUNDED",
        1000,
        start,
        clock.now(),
    )
    assert (entry.actor_type, entry.actor_id, entry.actor_name) == ("SYSTEM", None, "system")
    assert (await grant_row(runtime.engine, grant.grant_id)).funded_at == start
    figures = await balance(runtime, customer_id)
    assert (figures.available, figures.pending) == (1000, 0)
    assert (
        await balance(runtime, customer_id, at=start - timedelta(microseconds=1))
    ).pending == 1000
    assert [e.type for e in publisher.published[-1].entries] == ["FUNDED"]


async def test_expiry_forfeits_what_remains_at_the_expiry_instant(runtime, make_customer, clock):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10", expires_after=parse_duration("P7D"))
    await consume(runtime, customer_id, "2.50", key="c")
    expires_at = clock.now() + timedelta(days=7)
    clock.advance(timedelta(days=8))

    assert await book_due_events(runtime) == 1

    entry = (await ledger(runtime.engine, customer_id))[-1]
    assert (entry.sequence, entry.type, entry.amount, entry.booked_at, entry.actor_type) == (
        3,
        "EXPIRED",
        -750,
        expires_at,
        "SYSTEM",
    )
    figures = await balance(runtime, customer_id)
    assert (figures.available, figures.expired, figures.consumed) == (0, 750, 250)
    assert (
        await balance(runtime, customer_id, at=expires_at - timedelta(seconds=1))
    ).available == 750
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.EXPIRED


async def test_an_expiry_with_nothing_left_books_no_entry_and_leaves_the_grant_depleted(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10", expires_after=parse_duration("P1D"))
    await consume(runtime, customer_id, "10", key="c")
    clock.advance(timedelta(days=2))

    assert await book_due_events(runtime) == 1

    assert [e.type for e in await ledger(runtime.engine, customer_id)] == ["FUNDED", "CONSUMED"]
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.expiry_booked, row.next_event_at) == (True, None)
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.DEPLETED


async def test_a_grant_that_expires_before_it_is_funded_is_never_funded(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "10", terms=ON_SETTLEMENT, expires_after=parse_duration("P1D")
    )
    clock.advance(timedelta(days=1))

    assert await book_due_events(runtime) == 1

    assert await ledger(runtime.engine, customer_id) == []
    figures = await balance(runtime, customer_id)
    assert (figures.pending, figures.expired) == (0, 0)
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.EXPIRED


async def test_funding_and_expiry_in_one_sweep_are_two_transactions_in_time_order(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    start = clock.now() + timedelta(hours=1)
    await promo(
        runtime, customer_id, "10", effective_at=start, expires_after=parse_duration("PT1H")
    )
    clock.advance(timedelta(hours=3))

    await book_due_events(runtime)

    funded, expired = await ledger(runtime.engine, customer_id)
    assert [(e.type, e.amount, e.booked_at) for e in (funded, expired)] == [
        ("FUNDED", 1000, start),
        ("EXPIRED", -1000, start + timedelta(hours=1)),
    ]
    assert funded.transaction_id != expired.transaction_id
    assert (await balance(runtime, customer_id, at=start + timedelta(minutes=30))).available == 1000


async def test_each_event_is_booked_exactly_once(runtime, make_customer, clock):
    first = await make_customer()
    second = await make_customer()
    await promo(runtime, first, "1", effective_at=clock.now() + timedelta(minutes=1))
    await promo(runtime, second, "1", expires_after=parse_duration("PT2M"))
    clock.advance(timedelta(minutes=5))

    assert await book_due_events(runtime) == 2
    assert await book_due_events(runtime) == 0

    assert [e.type for e in await ledger(runtime.engine, first)] == ["FUNDED"]
    assert [e.type for e in await ledger(runtime.engine, second)] == ["FUNDED", "EXPIRED"]
    assert await verify(runtime.engine) == []


async def test_an_event_due_exactly_now_is_booked(runtime, make_customer, clock):
    customer_id = await make_customer()
    start = clock.now() + timedelta(hours=1)
    await promo(runtime, customer_id, "1", effective_at=start)
    clock.set(start)

    assert await book_due_events(runtime) == 1
    assert [e.booked_at for e in await ledger(runtime.engine, customer_id)] == [start]
