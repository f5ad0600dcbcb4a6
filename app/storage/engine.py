"""Engines for SQLite (embedded default) and PostgreSQL, and the write transaction.

Writes for one customer are serialized: on SQLite every write transaction begins
IMMEDIATE (so a read-then-write never fails on a lock upgrade); on PostgreSQL the
writer locks the customer's row with SELECT … FOR UPDATE (see `lock_customer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.storage.tables import customers

BUSY_TIMEOUT_MS = 30_000
# Connections per process: POOL_SIZE kept open (opening one under load took up to 0.8 s
# on SQLite), MAX_OVERFLOW more at peaks. Live subscriptions read through a gate of
# LIVE_READS of them, so thousands of subscribers setting up or refreshing at once
# leave requests the rest (4,000 at once took the whole pool before: 504s).
POOL_SIZE = 10
MAX_OVERFLOW = 10
LIVE_READS = 2

# The gate of the current task and of the tasks it starts (None: ungated). A context
# variable, set once on a WebSocket's task, so every read made for its subscriptions,
# the loaders' included, passes the gate without each caller passing it along.
read_gate: ContextVar[asyncio.Semaphore | None] = ContextVar("read_gate", default=None)


def async_url(url: str) -> str:
    """The server picks the async driver itself."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(
        parsed.drivername, parsed.drivername
    )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_memory(url: str) -> bool:
    """An in-memory SQLite database: one static connection, no pool to size."""
    return is_sqlite(url) and make_url(url).database in (None, "", ":memory:")


def create_engine(
    url: str, *, statement_timeout: float | None = None, **options: Any
) -> AsyncEngine:
    """`statement_timeout` (seconds, PostgreSQL): the server cancels longer statements, so
    a request abandoned at the execution limit stops in the database too. Commands that
    may run long (verify, migrate) leave it out."""
    if "poolclass" not in options and not is_memory(url):
        options = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW} | options
    if statement_timeout is not None and not is_sqlite(url):
        options = _with_server_settings(
            options, statement_timeout=f"{statement_timeout * 1000:.0f}"
        )
    engine = create_async_engine(async_url(url), **options)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _with_server_settings(options: dict[str, Any], **settings: str) -> dict[str, Any]:
    """asyncpg sets these on every new connection (`SET` would be lost on a reconnect)."""
    connect_args = dict(options.get("connect_args", {}))
    connect_args["server_settings"] = connect_args.get("server_settings", {}) | settings
    return options | {"connect_args": connect_args}


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One mutation, one transaction: committed on success, rolled back on any error."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            await connection.execution_options(sqlite_begin="IMMEDIATE")
        async with connection.begin():
            yield connection


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A short read: one consistent snapshot for the statements inside (through the
    current task's read gate, if it has one)."""
    gate = read_gate.get()
    async with gate or nullcontext(), engine.connect() as connection, connection.begin():
        yield connection


def gate_reads(gate: asyncio.Semaphore) -> None:
    """Reads of the current task, and of every task it starts from now on, pass `gate`:
    at most its size of them hold a connection at once."""
    read_gate.set(gate)


def live_read_gate() -> asyncio.Semaphore:
    return asyncio.Semaphore(LIVE_READS)


async def lock_customer(connection: AsyncConnection, customer_id: str) -> bool:
    """Serialize writers of one customer on PostgreSQL; True if the customer exists."""
    statement = select(customers.c.id).where(customers.c.id == customer_id).with_for_update()
    return (await connection.execute(statement)).first() is not None
