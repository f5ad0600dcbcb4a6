"""Two runtimes on one PostgreSQL database, in one test process: two engines, two
CustomerLocks and two brokers, as two server processes have. What keeps them exact is the
database (the customer row lock, the NOTIFY sent inside the transaction), not anything
they share in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from ulid import ULID

from app.domain.errors import InsufficientCredits
from app.domain.events import Committed
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.broker import Resync
from app.live.broker import Subscription as Feed
from app.live.postgres import MAX_PAYLOAD, PostgresBroker, decode, encode
from app.live.publisher import publisher_for
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.storage.engine import create_engine
from tests.scale.support import sql


@pytest.fixture
async def runtimes(database_url: str, clock: FrozenClock) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two runtimes, each with its own engine, locks and listening PostgreSQL broker."""
    made = []
    for _ in range(2):
        engine = create_engine(database_url, pool_size=20, max_overflow=40)
        broker = PostgresBroker(database_url, clock)
        await broker.start()
        made.append(Runtime(engine, clock, CurrencyCatalog(engine), broker))
    yield made[0], made[1]
    for runtime in made:
        assert isinstance(runtime.publisher, PostgresBroker)
        await runtime.publisher.stop()
        await runtime.engine.dispose()


async def promoted_customer(runtime: Runtime, key: str, amount: str, **fields: object) -> str:
    customer_id, _ = await create_customer(runtime, key=key, name=key)
    await promote(runtime, customer_id, amount, **fields)
    return customer_id


async def promote(runtime: Runtime, customer_id: str, amount: str, **fields: object) -> None:
    request = GrantRequest(
        customer_id=customer_id,
        name="promo",
        currency="USD",
        amount=Decimal(amount),
        **fields,  # type: ignore[arg-type]
    )
    await grant_promotional_credits(runtime, actor=OPEN, request=request)


async def draw(runtime: Runtime, customer_id: str, key: str) -> str:
    request = ConsumeRequest(customer_id=customer_id, key=key, currency="USD", amount=Decimal(1))
    try:
        await consume_credits(runtime, actor=OPEN, request=request)
    except InsufficientCredits:
        return "refused"
    return "drawn"


async def test_two_runtimes_racing_sixty_draws_of_one_against_twenty_draw_exactly_twenty(
    runtimes: tuple[Runtime, Runtime], database_url: str
) -> None:
    one, two = runtimes
    assert one.customer_locks is not two.customer_locks
    customer_id = await promoted_customer(one, "acme", "20")

    results = await asyncio.gather(
        *(draw((one, two)[n % 2], customer_id, f"draw-{n}") for n in range(60))
    )

    assert results.count("drawn") == 20 and results.count("refused") == 40
    drawn_by = {(one, two)[n % 2] is one for n, result in enumerate(results) if result == "drawn"}
    assert drawn_by == {True, False}, "both runtimes drew"
    rows = await sql(
        database_url,
        "SELECT sequence, balance_after FROM ledger_entry WHERE customer_id = :id"
        " ORDER BY sequence",
        id=customer_id,
    )
    assert [row.sequence for row in rows] == list(range(1, 22))
    assert [row.balance_after for row in rows] == [2000 - 100 * n for n in range(21)]


async def test_two_schedulers_book_each_due_expiry_exactly_once(
    runtimes: tuple[Runtime, Runtime], database_url: str, clock: FrozenClock
) -> None:
    one, _ = runtimes
    customer_ids = [
        await promoted_customer(one, f"customer-{n}", "5", expires_after=timedelta(hours=1))
        for n in range(30)
    ]
    clock.advance(timedelta(hours=2))

    await asyncio.gather(*(book_due_events(runtime) for runtime in runtimes for _ in range(3)))

    rows = await sql(
        database_url,
        "SELECT customer_id, count(*) AS n, min(booked_at) AS at FROM ledger_entry"
        " WHERE type = 'EXPIRED' GROUP BY customer_id",
    )
    assert sorted(row.customer_id for row in rows) == sorted(customer_ids)
    assert {row.n for row in rows} == {1}
    assert {row.at for row in rows} == {clock.now() - timedelta(hours=1)}


async def test_a_change_through_one_runtime_reaches_a_subscriber_of_the_other_once(
    runtimes: tuple[Runtime, Runtime],
) -> None:
    one, two = runtimes
    assert isinstance(two.publisher, PostgresBroker)
    customer_id = await promoted_customer(one, "acme", "1")
    async with two.publisher.subscribe(customer_id) as feed:
        assert await draw(one, customer_id, "first") == "drawn"
        assert await draw(one, customer_id, "second") == "refused"  # rolled back: no notice
        await promoted_customer(one, "other", "1")  # another customer's change
        await promote(one, customer_id, "1")  # notices come in commit order: this one last

        changes = [await asyncio.wait_for(feed.next(), 10)]
        while changes[-1].sequences != {"USD": 3}:
            changes.append(await asyncio.wait_for(feed.next(), 10))

    # the grant's own notice may arrive after subscribing or before: only it may precede
    [change] = [change for change in changes[:-1] if change.sequences != {"USD": 1}]
    assert (change.customer_id, change.entries, change.sequences) == (
        customer_id,
        [],
        {"USD": 2},
    )
    assert len(change.grant_ids) == 1 and change.at == one.clock.now()


async def test_a_process_hears_its_own_change_whole_and_another_process_by_sequences(
    runtimes: tuple[Runtime, Runtime],
) -> None:
    """Both through their listeners, in the database's order; the committing process's
    subscribers get the change itself, entries included, so they read nothing."""
    one, two = runtimes
    assert isinstance(one.publisher, PostgresBroker) and isinstance(two.publisher, PostgresBroker)
    customer_id = await promoted_customer(one, "acme", "5")
    async with (
        one.publisher.subscribe(customer_id) as own,
        two.publisher.subscribe(customer_id) as other,
    ):
        assert await draw(one, customer_id, "first") == "drawn"
        mine, theirs = await change_to(own, {"USD": 2}), await change_to(other, {"USD": 2})

    assert [entry.sequence for entry in mine.entries] == [2] and theirs.entries == []
    assert mine.sequences == theirs.sequences and mine.at == theirs.at
    assert not one.publisher.staged  # each own change is dropped once heard


async def change_to(feed: Feed, sequences: dict[str, int]) -> Committed:
    """The next change with these sequences (the grant's own notice may come first)."""
    while True:
        change = await asyncio.wait_for(feed.next(), 10)
        if change.sequences == sequences:
            return change


async def test_a_command_line_change_reaches_a_server_subscriber(
    runtimes: tuple[Runtime, Runtime], database_url: str, clock: FrozenClock
) -> None:
    """The command line does not listen, but on PostgreSQL it notifies: `credits sweep`
    booking an expiry is heard by a running server's subscribers."""
    one, two = runtimes
    assert isinstance(two.publisher, PostgresBroker)
    customer_id = await promoted_customer(one, "acme", "5", expires_after=timedelta(hours=1))
    engine = create_engine(database_url)
    command_line = Runtime(engine, clock, CurrencyCatalog(engine), publisher_for(database_url))
    async with two.publisher.subscribe(customer_id) as feed:
        clock.advance(timedelta(hours=2))
        assert await book_due_events(command_line) == 1
        changes = [await asyncio.wait_for(feed.next(), 5)]
        if changes[0].sequences == {"USD": 1}:  # the grant's own notice came late
            changes = [await asyncio.wait_for(feed.next(), 5)]
    await engine.dispose()

    assert changes[0].sequences == {"USD": 2}


async def test_a_broker_whose_database_is_not_there_yet_listens_once_it_is(
    postgres_url: str, clock: FrozenClock
) -> None:
    """It keeps trying with backoff; a subscription made meanwhile is then told to re-read
    what it may have missed."""
    name = f"credits_scale_{str(ULID()).lower()}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    broker = PostgresBroker(url, clock)
    await broker.start(wait=0.2)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        assert not broker.listening.is_set()
        async with broker.subscribe("cus_01J90000000000000000000000") as feed:
            async with admin.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            await asyncio.wait_for(broker.listening.wait(), 15)
            resync = await asyncio.wait_for(feed.next(), 10)
        assert isinstance(resync, Resync) and resync.sequences == {}
    finally:
        await broker.stop()
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_after_losing_its_connection_a_broker_tells_every_subscription_to_re_read(
    runtimes: tuple[Runtime, Runtime], database_url: str
) -> None:
    one, two = runtimes
    assert isinstance(two.publisher, PostgresBroker)
    customer_id = await promoted_customer(one, "acme", "5")
    async with two.publisher.subscribe(customer_id) as feed:
        await sql(
            database_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'credits-listener' AND datname = current_database()",
        )
        assert await draw(one, customer_id, "in the gap") == "drawn"
        changes = [await asyncio.wait_for(feed.next(), 10)]
        while not isinstance(changes[-1], Resync):
            changes.append(await asyncio.wait_for(feed.next(), 10))

    assert changes[-1].customer_id == customer_id and changes[-1].sequences == {}
    assert two.publisher.listening.is_set()


def test_a_change_naming_too_many_grants_is_notified_as_a_resync_with_its_sequences() -> None:
    grant_ids = {f"grt_01J9{n:022d}" for n in range(500)}
    committed = Committed("cus_01J90000000000000000000000", grant_ids=grant_ids)
    committed.sequences = {"USD": 7, "EUR": 3}
    committed.currencies = {"USD", "EUR"}

    payload = encode(committed)

    assert len(payload.encode()) <= MAX_PAYLOAD
    received = decode(payload)
    assert isinstance(received, Resync)
    assert (received.customer_id, received.sequences) == (
        committed.customer_id,
        {"USD": 7, "EUR": 3},
    )


def test_a_change_naming_few_grants_travels_whole() -> None:
    committed = Committed("cus_01J90000000000000000000000", grant_ids={"grt_1", "grt_2"})
    committed.sequences = {"USD": 7}
    committed.currencies = {"USD"}

    received = decode(encode(committed))

    assert not isinstance(received, Resync)
    assert (received.grant_ids, received.currencies, received.sequences) == (
        {"grt_1", "grt_2"},
        {"USD"},
        {"USD": 7},
    )
