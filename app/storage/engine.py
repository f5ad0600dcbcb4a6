"""Engines for SQLite (embedded default) and PostgreSQL, and the write transaction.

Writes for one customer are serialized: on SQLite every write transaction begins
IMMEDIATE (so a read-then-write never fails on a lock upgrade); on PostgreSQL the
writer locks the customer's row with SELECT … FOR UPDATE (see `lock_customer`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.storage.tables import customers

BUSY_TIMEOUT_MS = 30_000


def async_url(url: str) -> str:
    """The server picks the async driver itself."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(
        parsed.drivername, parsed.drivername
    )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **options: Any) -> AsyncEngine:
    engine = create_async_engine(async_url(url), **options)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


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
    """A short read: one consistent snapshot for the statements inside."""
    async with engine.connect() as connection, connection.begin():
        yield connection


async def lock_customer(connection: AsyncConnection, customer_id: str) -> bool:
    """Serialize writers of one customer on PostgreSQL; True if the customer exists."""
    statement = select(customers.c.id).where(customers.c.id == customer_id).with_for_update()
    return (await connection.execute(statement)).first() is not None
