"""What a transaction hands to aiosqlite's thread: each hand-off costs event-loop turns, so
their number is pinned here (a count, not a time). And what the fewer hand-offs must keep:
the snapshot, the rollback of a failed write, a clean connection back in the pool."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.storage import sqlite_driver
from app.storage.engine import create_engine, read_connection, write_transaction

COUNT = "SELECT count(*) FROM item"
INSERT = "INSERT INTO item (name) VALUES ('a')"


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    """One pooled connection, so each transaction gets the one the last returned."""
    engine = create_engine(f"sqlite:///{tmp_path / 'items.db'}", pool_size=1, max_overflow=0)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def hand_offs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every call handed to a connection's thread: (BEGIN or None, statement) for a
    statement, else the name of the call (commit, rollback)."""
    calls: list[Any] = []
    handed = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(fn, partial) and fn.func is sqlite_driver._run:
            calls.append(fn.args[1:3])
        else:
            calls.append(fn.__name__)
        return await handed(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield calls


async def count(connection: AsyncConnection) -> int:
    return int((await connection.execute(text(COUNT))).scalar_one())


async def driver_of(connection: AsyncConnection) -> aiosqlite.Connection:
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, aiosqlite.Connection)
    return raw


async def in_transaction(engine: AsyncEngine) -> bool:
    """Whether the pooled connection, as the pool hands it out, is inside a transaction."""
    async with engine.connect() as connection:
        return (await driver_of(connection)).in_transaction


async def returned_clean(engine: AsyncEngine, rows: int) -> None:
    """The pool hands the connection out outside any transaction, the table holding `rows`."""
    assert not await in_transaction(engine)
    async with read_connection(engine) as connection:
        assert await count(connection) == rows


async def test_a_read_transaction_hands_off_its_statement_with_the_begin_then_commits(
    engine: AsyncEngine, hand_offs: list[Any]
) -> None:
    async with read_connection(engine) as connection:
        assert await count(connection) == 0
    # before: BEGIN (cursor, execute, close), the count (cursor, execute, fetch, close),
    # COMMIT, and the pool's ROLLBACK on return: 9
    assert hand_offs == [("BEGIN DEFERRED", COUNT), "commit"]


async def test_a_write_transaction_begins_immediate_on_its_own_then_writes_and_commits(
    engine: AsyncEngine, hand_offs: list[Any]
) -> None:
    async with write_transaction(engine) as connection:
        await connection.execute(text(INSERT))
    # before: 8 (BEGIN 3, the insert 3, COMMIT, ROLLBACK)
    assert hand_offs == [(None, "BEGIN IMMEDIATE"), (None, INSERT), "commit"]


async def test_a_transaction_that_runs_no_statement_hands_nothing_off(
    engine: AsyncEngine, hand_offs: list[Any]
) -> None:
    async with read_connection(engine):
        pass
    assert hand_offs == []
    assert not await in_transaction(engine)


async def test_a_read_transaction_keeps_one_snapshot(engine: AsyncEngine, tmp_path: Path) -> None:
    """The BEGIN that goes with the first read still opens the transaction: a write
    committed between two reads is not seen by the second."""
    other = create_engine(f"sqlite:///{tmp_path / 'items.db'}")
    try:
        async with read_connection(engine) as connection:
            assert await count(connection) == 0
            async with write_transaction(other) as writer:
                await writer.execute(text(INSERT))
            assert await count(connection) == 0
        async with read_connection(engine) as connection:
            assert await count(connection) == 1
    finally:
        await other.dispose()


async def test_a_stream_reads_inside_the_transaction(engine: AsyncEngine) -> None:
    """A server-side cursor (the adapter's own) as the first statement begins first."""
    async with read_connection(engine) as connection:
        rows = [row async for row in await connection.stream(text(COUNT))]
        assert (await driver_of(connection)).in_transaction
    assert rows == [(0,)]
    assert not await in_transaction(engine)


async def test_a_failed_write_rolls_back_and_the_pool_gets_the_connection_clean(
    engine: AsyncEngine, hand_offs: list[Any]
) -> None:
    with pytest.raises(RuntimeError, match="use case failed"):
        async with write_transaction(engine) as connection:
            await connection.execute(text(INSERT))
            raise RuntimeError("use case failed")
    # before: 8, the pool rolling back again on return
    assert hand_offs == [(None, "BEGIN IMMEDIATE"), (None, INSERT), "rollback"]
    await returned_clean(engine, 0)


async def test_a_failed_read_rolls_back_and_the_pool_gets_the_connection_clean(
    engine: AsyncEngine, hand_offs: list[Any]
) -> None:
    with pytest.raises(RuntimeError, match="loader failed"):
        async with read_connection(engine) as connection:
            await count(connection)
            raise RuntimeError("loader failed")
    assert hand_offs == [("BEGIN DEFERRED", COUNT), "rollback"]
    assert not await in_transaction(engine)


async def test_a_committed_write_is_durable_and_its_connection_clean(
    engine: AsyncEngine,
) -> None:
    async with write_transaction(engine) as connection:
        await connection.execute(text(INSERT))
    await returned_clean(engine, 1)


async def test_a_connection_returned_inside_a_transaction_is_rolled_back_by_the_pool(
    engine: AsyncEngine, hand_offs: list[Any]
) -> None:
    """A transaction begun on the driver connection, out of SQLAlchemy's sight (as the
    bulk writer does), after a committed one: the pool still rolls it back on return."""
    async with engine.connect() as connection:
        async with connection.begin():
            await connection.execute(text(INSERT))
        raw = await driver_of(connection)
        await raw.execute("BEGIN IMMEDIATE")
        await raw.execute(INSERT)
    assert hand_offs[-1] == "rollback"
    await returned_clean(engine, 1)


async def test_a_read_that_fails_before_its_first_statement_leaves_no_waiting_begin(
    engine: AsyncEngine, hand_offs: list[Any]
) -> None:
    """After a commit, a read transaction fails before any statement (bad input found
    by the resolver): the BEGIN that waited must not go out with the next transaction's
    first statement (it did: 'cannot start a transaction within a transaction')."""
    async with write_transaction(engine) as connection:
        await connection.execute(text(INSERT))
    with pytest.raises(RuntimeError, match="bad input"):
        async with read_connection(engine):
            raise RuntimeError("bad input")
    async with write_transaction(engine) as connection:
        await connection.execute(text(INSERT))
    assert hand_offs[-3:] == [(None, "BEGIN IMMEDIATE"), (None, INSERT), "commit"]
    await returned_clean(engine, 2)
