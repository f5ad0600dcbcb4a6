"""Grant schedules on SQLite and PostgreSQL: occurrences booked once each, at their own
instants, by the creation, the scheduler or a write; carry-over; cancel; validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Row, select

from app.domain.errors import KeyConflict, NotFound, ValidationFailed
from app.domain.ids import new_id
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock, parse_duration
from app.observability.metrics import overdue_seconds
from app.services.runtime import Runtime
from app.services.schedules import (
    ScheduleOutcome,
    ScheduleRequest,
    cancel_credit_grant_schedule,
    create_credit_grant_schedule,
)
from app.services.scheduling import book_due_events
from app.services.verify import verify
from app.storage.engine import read_connection
from app.storage.tables import grants, schedules
from tests.conftest import START
from tests.services.support import D, balance, consume, fields_of, ledger, promo, row_counts
from tests.storage.test_postgres import both, pg_runtime

__all__ = ["both", "pg_runtime"]


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


async def create(runtime: Runtime, customer_id: str, **fields: Any) -> ScheduleOutcome:
    fields.setdefault("every", "P1M")
    for name in ("every", "expires_after"):
        if name in fields:
            fields[name] = parse_duration(fields[name])
    request = ScheduleRequest(
        customer_id=customer_id,
        name=fields.pop("name", "Monthly allowance"),
        currency=fields.pop("currency", "USD"),
        amount=D(fields.pop("amount", "10")),
        **fields,
    )
    return await create_credit_grant_schedule(runtime, actor=OPEN, request=request)


async def booked(runtime: Runtime, schedule_id: str) -> list[Row[Any]]:
    """The schedule's grants, earliest occurrence first."""
    statement = (
        select(grants).where(grants.c.schedule_id == schedule_id).order_by(grants.c.effective_at)
    )
    async with read_connection(runtime.engine) as connection:
        return list(await connection.execute(statement))


async def schedule_row(runtime: Runtime, schedule_id: str) -> Row[Any]:
    async with read_connection(runtime.engine) as connection:
        statement = select(schedules).where(schedules.c.id == schedule_id)
        return (await connection.execute(statement)).one()


async def test_a_start_a_year_ago_books_twelve_grants_at_once_each_at_its_own_occurrence(
    both: Runtime,
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)

    made = await create(
        runtime, customer, starts_at=at(2025, 1, 15, 13), expires_after="P1Y", amount="10"
    )

    occurrences = [at(2025, month, 15, 13) for month in range(1, 13)]
    rows = await booked(runtime, made.schedule_id)
    assert [(r.effective_at, r.expires_at) for r in rows] == [
        (o, o.replace(year=2026)) for o in occurrences
    ]
    assert [r.key for r in rows] == [f"schedule:{made.schedule_id}:{n}" for n in range(12)]
    assert {(r.created_at, r.funded_at, r.funding_method, r.amount) for r in rows} == {
        (START, START, "NONE", 1000)
    }
    entries = await ledger(runtime.engine, customer)
    # never backdated: booked when the schedule was created, each a transaction of its own
    assert [(e.type, e.booked_at, e.actor_type) for e in entries] == [
        ("FUNDED", START, "SYSTEM")
    ] * 12
    assert len({e.transaction_id for e in entries}) == 12
    assert [e.grant_id for e in entries] == [r.id for r in rows]
    assert (await balance(runtime, customer)).available == 12_000  # cents
    row = await schedule_row(runtime, made.schedule_id)
    assert (row.next_index, row.next_event_at) == (12, at(2026, 1, 15, 13))
    assert await book_due_events(runtime) == 0  # nothing left to book twice
    assert len(await booked(runtime, made.schedule_id)) == 12
    assert await verify(runtime.engine) == []


async def test_monthly_from_jan_31_is_booked_by_the_scheduler_at_each_occurrence(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    made = await create(runtime, customer, starts_at=at(2026, 1, 31), amount="30")
    assert await booked(runtime, made.schedule_id) == []

    clock.set(at(2026, 5, 1))
    assert await book_due_events(runtime) == 1

    rows = await booked(runtime, made.schedule_id)
    assert [(r.effective_at, r.expires_at) for r in rows] == [
        (at(2026, 1, 31), at(2026, 2, 28)),
        (at(2026, 2, 28), at(2026, 3, 31)),
        (at(2026, 3, 31), at(2026, 4, 30)),
        (at(2026, 4, 30), at(2026, 5, 31)),
    ]
    entries = [(e.type, e.booked_at, e.amount) for e in await ledger(runtime.engine, customer)]
    assert entries == [
        ("FUNDED", at(2026, 1, 31), 3000),
        ("EXPIRED", at(2026, 2, 28), -3000),  # the grant's expiry, then the next occurrence
        ("FUNDED", at(2026, 2, 28), 3000),
        ("EXPIRED", at(2026, 3, 31), -3000),
        ("FUNDED", at(2026, 3, 31), 3000),
        ("EXPIRED", at(2026, 4, 30), -3000),
        ("FUNDED", at(2026, 4, 30), 3000),
    ]
    assert (await schedule_row(runtime, made.schedule_id)).next_event_at == at(2026, 5, 31)
    assert await verify(runtime.engine) == []


async def test_credits_carry_over_while_expires_after_is_longer_than_every(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    made = await create(runtime, customer, starts_at=START, expires_after="P2M", amount="10")
    await consume(runtime, customer, "4", "january")

    clock.set(START + timedelta(days=40))  # Feb 24: the second grant came, the first stays
    available = await balance(runtime, customer)
    assert await book_due_events(runtime) == 1
    assert (await balance(runtime, customer)).available == 1600 == available.available + 1000
    taken = await consume(runtime, customer, "7", "february")  # soonest expiry first
    rows = await booked(runtime, made.schedule_id)
    draws = [e for e in await ledger(runtime.engine, customer) if e.type == "CONSUMED"]
    assert [(d.consumption_id, d.grant_id, d.amount) for d in draws[1:]] == [
        (taken.consumption_id, rows[0].id, -600),
        (taken.consumption_id, rows[1].id, -100),
    ]

    clock.set(at(2026, 3, 20))  # the first grant expired on Mar 15, empty; the third came
    await book_due_events(runtime)
    figures = await balance(runtime, customer)
    assert (figures.available, figures.expired, figures.funded) == (1900, 0, 3000)
    clock.set(at(2026, 4, 20))  # the second expired with 9 left
    await book_due_events(runtime)
    figures = await balance(runtime, customer)
    assert (figures.available, figures.expired, figures.funded) == (2000, 900, 4000)


async def test_cancel_books_what_is_due_then_nothing_more_and_keeps_the_grants(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    made = await create(runtime, customer, starts_at=START, every="P7D", expires_after="P1Y")
    clock.advance(timedelta(days=7))  # the second occurrence is due, nobody booked it

    canceled = await cancel_credit_grant_schedule(runtime, actor=OPEN, schedule_id=made.schedule_id)

    assert canceled == ScheduleOutcome(made.schedule_id, False)
    row = await schedule_row(runtime, made.schedule_id)
    assert (row.canceled_at, row.next_event_at) == (START + timedelta(days=7), None)
    assert len(await booked(runtime, made.schedule_id)) == 2
    clock.advance(timedelta(days=60))
    assert await book_due_events(runtime) == 0
    again = await cancel_credit_grant_schedule(runtime, actor=OPEN, schedule_id=made.schedule_id)
    assert again == ScheduleOutcome(made.schedule_id, True)
    assert [r.voided_at for r in await booked(runtime, made.schedule_id)] == [None, None]
    assert (await balance(runtime, customer)).available == 2000


async def test_a_write_for_the_customer_books_the_due_occurrence_first(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    await create(runtime, customer, starts_at=START + timedelta(days=1), amount="5")
    clock.advance(timedelta(days=1, hours=1))

    taken = await consume(runtime, customer, "5", "after-the-occurrence")

    assert taken.balance.available == D("0")
    types = [(e.type, e.booked_at) for e in await ledger(runtime.engine, customer)]
    assert types == [("FUNDED", START + timedelta(days=1)), ("CONSUMED", clock.now())]


async def test_a_schedule_ends_before_ends_at(both: Runtime, clock: FrozenClock) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    made = await create(
        runtime, customer, starts_at=START, every="P1D", ends_at=START + timedelta(days=3)
    )
    clock.advance(timedelta(days=10))
    await book_due_events(runtime)

    assert len(await booked(runtime, made.schedule_id)) == 3
    row = await schedule_row(runtime, made.schedule_id)
    assert (row.next_event_at, row.canceled_at) == (None, None)


async def test_a_key_replays_the_same_input_and_conflicts_with_another(both: Runtime) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    first = await create(runtime, customer, key="plan", starts_at=START)
    again = await create(runtime, customer, key="plan", starts_at=START, expires_after="P1M")

    assert again == ScheduleOutcome(first.schedule_id, True)
    with pytest.raises(KeyConflict):
        await create(runtime, customer, key="plan", starts_at=START, amount="11")
    with pytest.raises(KeyConflict):  # an omitted startsAt is not the retry's now
        await create(runtime, customer, key="plan")
    assert len(await booked(runtime, first.schedule_id)) == 1


async def test_a_twenty_first_active_schedule_is_refused_on_the_customer(
    both: Runtime,
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    made = [await create(runtime, customer, starts_at=START + timedelta(days=1)) for _ in range(20)]
    with pytest.raises(ValidationFailed) as refused:
        await create(runtime, customer)
    assert fields_of(refused.value) == [("input", "customerId")]

    await cancel_credit_grant_schedule(runtime, actor=OPEN, schedule_id=made[0].schedule_id)
    await create(runtime, customer)  # a canceled one does not count


async def test_invalid_input_names_every_field_and_writes_nothing(both: Runtime) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    before = await row_counts(runtime.engine)
    with pytest.raises(ValidationFailed) as refused:
        await create(
            runtime,
            "not-an-id",
            key="",
            name="",
            currency="XYZ",
            every="PT1H",
            ends_at=datetime(2026, 1, 1),  # no offset
            priority=0,
            features=("Bad",),
        )
    assert fields_of(refused.value) == [
        ("input", "customerId"),
        ("input", "key"),
        ("input", "name"),
        ("input", "priority"),
        ("input", "features", "0"),
        ("input", "currency"),
        ("input", "endsAt"),
    ]
    cases: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        ({"every": "P1Y1D"}, ("input", "every")),
        ({"every": "P1M", "expires_after": "P20D"}, ("input", "expiresAfter")),
        ({"starts_at": START, "ends_at": START}, ("input", "endsAt")),
        ({"amount": "0.001"}, ("input", "amount")),
        (
            {"starts_at": START - timedelta(days=1001), "every": "P1D", "expires_after": "P5Y"},
            ("input", "startsAt"),
        ),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            await create(runtime, customer, **fields)
        assert fields_of(refused.value) == [field], fields
    with pytest.raises(NotFound):
        await create(runtime, new_id("customer"))
    with pytest.raises(NotFound):
        await cancel_credit_grant_schedule(runtime, actor=OPEN, schedule_id=new_id("schedule"))
    with pytest.raises(NotFound):  # a grant's id is no schedule's
        grant = await promo(runtime, customer, "1")
        await cancel_credit_grant_schedule(runtime, actor=OPEN, schedule_id=grant.grant_id)
    with pytest.raises(ValidationFailed) as refused:
        await cancel_credit_grant_schedule(runtime, actor=OPEN, schedule_id="sch_nope")
    assert fields_of(refused.value) == [("input", "scheduleId")]
    after = await row_counts(runtime.engine)
    assert after == before | {"credit_grant": 1, "ledger_entry": 1, "account": 1}


async def test_occurrences_due_at_creation_keep_funded_credits_below_10_18(
    both: Runtime,
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    largest = "9999999999999999.99"  # 10^18 - 1 cents
    two_due = {"every": "P1D", "expires_after": "P1Y", "starts_at": START - timedelta(days=1)}
    before = await row_counts(runtime.engine)
    with pytest.raises(ValidationFailed) as refused:
        await create(runtime, customer, amount=largest, **two_due)
    assert fields_of(refused.value) == [("input", "amount")]
    assert await row_counts(runtime.engine) == before

    one_due = two_due | {"starts_at": START}
    made = await create(runtime, customer, amount=largest, **one_due)
    assert [row.amount for row in await booked(runtime, made.schedule_id)] == [10**18 - 1]
    with pytest.raises(ValidationFailed) as refused:
        await create(runtime, customer, key="more", amount="0.01", **one_due)
    assert fields_of(refused.value) == [("input", "amount")]


async def runtime_customer(runtime: Runtime) -> str:
    from app.services.customers import create_customer

    customer_id, _ = await create_customer(runtime, key=new_id("customer"), name="Acme")
    return customer_id


async def test_a_due_occurrence_counts_in_the_scheduler_lag(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer = await runtime_customer(runtime)
    await create(runtime, customer, starts_at=START + timedelta(hours=1))
    assert await overdue_seconds(runtime.engine, clock.now()) == 0

    clock.advance(timedelta(hours=1, minutes=30))

    assert await overdue_seconds(runtime.engine, clock.now()) == 1800
    await book_due_events(runtime)
    assert await overdue_seconds(runtime.engine, clock.now()) == 0


async def test_grant_keys_of_schedules_are_refused_to_requests(runtime: Runtime) -> None:
    customer = await runtime_customer(runtime)
    with pytest.raises(ValidationFailed) as refused:
        await promo(runtime, customer, "1", key=f"schedule:{new_id('schedule')}:0")
    assert fields_of(refused.value) == [("input", "key")]
