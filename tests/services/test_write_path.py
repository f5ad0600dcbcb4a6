"""The write path of a consumption, on SQLite and PostgreSQL: its statements, its instant
and its result balance (DESIGN §4, §6, §8; issue 8's "fewer round trips per write")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.errors import InsufficientCredits, KeyConflict
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.services.consumption import InsufficientCreditsBehavior
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.settlement import void_credit_grant
from app.storage.engine import begin_mode, lock_customer, writing
from tests.services.support import balance, consume, consumption_row, ledger, promo, purchase

PARTIAL = InsufficientCreditsBehavior.PARTIAL


@contextmanager
def recorded(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements the engine runs inside the block, whitespace folded."""
    statements: list[str] = []

    def executed(*args: Any) -> None:
        statements.append(" ".join(args[2].split()))

    event.listen(engine.sync_engine, "before_cursor_execute", executed)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", executed)


def kind(statement: str) -> str:
    """BEGIN, lock, read, or the verb and table of a write."""
    words = statement.split()
    if words[0] in ("INSERT", "UPDATE"):
        return f"{words[0]} {words[2] if words[0] == 'INSERT' else words[1]}"
    if words[0] == "SELECT":
        return "lock" if statement.endswith("FOR UPDATE") else "read"
    return statement


async def customer(runtime: Runtime, key: str = "acme") -> str:
    customer_id, _ = await create_customer(runtime, key=key, name="Acme")
    return customer_id


async def test_a_consumption_writes_in_seven_statements_on_one_connection(both: Runtime) -> None:
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    await consume(runtime, customer_id, "1", key="warm-up")  # the connection's first statements
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    event.listen(runtime.engine.sync_engine, "checkout", checked_out)
    with recorded(runtime.engine) as statements:
        await consume(runtime, customer_id, "2", key="use")
    event.remove(runtime.engine.sync_engine, "checkout", checked_out)

    # SQLite: BEGIN IMMEDIATE takes the lock; PostgreSQL: the customer's row lock (its
    # BEGIN is the driver's, not a statement). Then the customer's state with its USD
    # account, the spendable and pending grants, and the four writes.
    locking = "BEGIN IMMEDIATE" if runtime.engine.dialect.name == "sqlite" else "lock"
    assert [kind(s) for s in statements] == [
        locking,
        "read",
        "read",
        "INSERT credit_consumption",
        "UPDATE credit_grant",
        "UPDATE account",
        "INSERT ledger_entry",
    ]
    assert len(checkouts) == 1


async def test_the_result_balance_is_the_balance_read_afterwards_at_its_instant(
    both: Runtime, clock: FrozenClock
) -> None:
    """Every figure: paid and promotional, expired (booked by the consumption's own
    catch-up), voided, pending (a grant effective later), a restricted grant's credits."""
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10", expires_at=clock.now() + timedelta(hours=1))
    await purchase(runtime, customer_id, "20")
    await promo(runtime, customer_id, "5", effective_at=clock.now() + timedelta(hours=2))
    await promo(runtime, customer_id, "7", features=("api",))
    voided = await purchase(runtime, customer_id, "4")
    await void_credit_grant(runtime, actor=OPEN, grant_id=voided.grant_id)
    await promo(runtime, customer_id, "3", "EUR")
    clock.advance(timedelta(minutes=90))

    made = await consume(runtime, customer_id, "3.5", key="use")
    made_read = await balance(runtime, customer_id, at=made.balance.at)
    replayed = await consume(runtime, customer_id, "3.5", key="use")
    partial = await consume(runtime, customer_id, "100", key="all", on_insufficient=PARTIAL)
    partial_read = await balance(runtime, customer_id, at=partial.balance.at)

    assert [entry.type for entry in await ledger(runtime.engine, customer_id)] == [
        *["FUNDED"] * 4,
        "VOIDED",
        "EXPIRED",
        "CONSUMED",
        "CONSUMED",
    ]
    figures = made.balance
    assert (figures.available, figures.pending, figures.expired, figures.voided) == (
        2350,
        500,
        1000,
        400,
    )
    assert asdict(made.balance) == asdict(made_read)
    assert replayed.replayed and replayed.balance == made.balance
    assert partial.balance.available == 700  # the restricted grant's credits stay
    assert asdict(partial.balance) == asdict(partial_read)


async def test_a_retry_replays_even_when_the_credits_no_longer_suffice(both: Runtime) -> None:
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    first = await consume(runtime, customer_id, "8", key="big")

    again = await consume(runtime, customer_id, "8", key="big")

    assert (again.consumption_id, again.replayed, again.balance.available) == (
        first.consumption_id,
        True,
        200,
    )
    with pytest.raises(KeyConflict):
        await consume(runtime, customer_id, "9", key="big")  # not InsufficientCredits
    with pytest.raises(InsufficientCredits):
        await consume(runtime, customer_id, "9", key="other")


@asynccontextmanager
async def holding_the_lock(runtime: Runtime, customer_id: str) -> AsyncIterator[AsyncConnection]:
    """Another writer's transaction holding what a write of this customer waits for: on
    SQLite the database's write lock (taken past this process's queue), on PostgreSQL the
    customer's row."""
    async with runtime.engine.connect() as other:
        if other.dialect.name == "sqlite":
            await begin_mode(other, "IMMEDIATE")
            async with other.begin():
                yield other
            return
        async with writing(other):
            assert await lock_customer(other, customer_id)
            yield other


async def test_the_instant_of_a_write_is_taken_after_the_lock(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    waits_at = "BEGIN IMMEDIATE" if runtime.engine.dialect.name == "sqlite" else "FOR UPDATE"
    waiting_for_the_lock = asyncio.Event()

    def executed(*args: Any) -> None:
        if waits_at in args[2]:
            waiting_for_the_lock.set()

    async with holding_the_lock(runtime, customer_id):
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", executed)
        waiting = asyncio.create_task(consume(runtime, customer_id, "1", key="late"))
        await waiting_for_the_lock.wait()
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", executed)
        clock.advance(timedelta(minutes=5))  # while the consumption waits for the lock
    outcome = await waiting

    [entry] = [e for e in await ledger(runtime.engine, customer_id) if e.type == "CONSUMED"]
    row = await consumption_row(runtime.engine, outcome.consumption_id)
    assert entry.booked_at == row.created_at == outcome.balance.at == clock.now()


async def test_on_sqlite_a_writer_waits_in_the_process_not_in_sqlite(runtime: Runtime) -> None:
    """The second writer does not reach BEGIN IMMEDIATE (and SQLite's busy handler) while
    the first is writing; it begins once the first commits."""
    engine = runtime.engine

    async def second_writer(connection: AsyncConnection) -> None:
        async with writing(connection):
            await connection.execute(text("SELECT 1"))

    with recorded(engine) as statements:
        async with engine.connect() as first, engine.connect() as second:
            async with writing(first):
                await first.execute(text("SELECT 1"))
                waiting = asyncio.create_task(second_writer(second))
                for _ in range(20):
                    await asyncio.sleep(0)
                assert statements == ["BEGIN IMMEDIATE", "SELECT 1"]
            await waiting

    assert statements == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN IMMEDIATE", "SELECT 1"]
