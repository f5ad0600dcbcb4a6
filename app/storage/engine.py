"""Engines for SQLite (embedded default) and PostgreSQL, and the write transaction.

Writes for one customer are serialized: on SQLite every write transaction begins
IMMEDIATE (so a read-then-write never fails on a lock upgrade), a process's writers
taking turns before it (see `writing`); on PostgreSQL the writer locks the customer's
row with SELECT … FOR UPDATE (see `lock_customer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.storage import sqlite_driver
from app.storage.tables import customers

BUSY_TIMEOUT_MS = 30_000
# Connections per process: POOL_SIZE kept open (opening one under load took up to 0.8 s
# on SQLite), MAX_OVERFLOW more at peaks. Live subscriptions read through a gate of
# LIVE_READS of them, so thousands of subscribers setting up or refreshing at once
# leave requests the rest (4,000 at once took the whole pool before: 504s).
POOL_SIZE = 10
MAX_OVERFLOW = 10
LIVE_READS = 2
IDLE_RELEASE = 1.0  # seconds a request's shared connection stays checked out unused

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
    if is_sqlite(url):
        options = {"module": sqlite_driver.driver()} | options
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
    async with connection_of(engine) as connection, writing(connection):
        yield connection


# One lock per SQLite engine and event loop: the process's write transactions in turn.
_writers: WeakKeyDictionary[Engine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    WeakKeyDictionary()
)


@asynccontextmanager
async def writing(connection: AsyncConnection) -> AsyncIterator[None]:
    """A write transaction on `connection`: committed on success, rolled back on error.

    SQLite admits one writer at a time, and a writer waiting in its busy handler sleeps
    in steps of up to 100 ms, missing the moment the lock frees. So on SQLite the
    process's writers queue on a lock of their own before BEGIN IMMEDIATE, each woken as
    the one before commits; the busy timeout still orders writers of other processes.
    """
    if connection.dialect.name != "sqlite":
        async with connection.begin():
            yield
        return
    await begin_mode(connection, "IMMEDIATE")
    async with _writer_lock(connection.engine.sync_engine), connection.begin():
        yield


def _writer_lock(engine: Engine) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    found = _writers.get(engine)
    if found is None or found[0] is not loop:
        found = _writers[engine] = (loop, asyncio.Lock())
    return found[1]


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A short read: one consistent snapshot for the statements inside (through the
    current task's read gate, if it has one)."""
    gate = read_gate.get()
    async with gate or nullcontext(), connection_of(engine) as connection:
        await begin_mode(connection, "DEFERRED")
        async with connection.begin():
            yield connection


async def begin_mode(connection: AsyncConnection, mode: str) -> None:
    """How SQLite's next BEGIN on this connection starts (a shared connection is used for
    reads and writes in turn): DEFERRED for reads, IMMEDIATE for writes."""
    if connection.dialect.name == "sqlite":
        await connection.execution_options(sqlite_begin=mode)


class SharedConnection:
    """One pooled connection for one HTTP request: its reads and writes take turns on it,
    each in a transaction of its own, so a request checks out one connection, not one
    per statement batch. Checked out at the first turn; returned when the request ends,
    or after IDLE_RELEASE seconds with no turn (a streamed subscription holds none between
    its events). A task outliving the request gets a connection of its own per turn."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        self.connection: AsyncConnection | None = None
        self.closed = False
        self.idle: asyncio.TimerHandle | None = None
        self.releasing: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[AsyncConnection]:
        async with self.lock:
            self._stop_idle()
            connection = self.connection or await self.engine.connect()
            self.connection = connection
            token = inside_turn.set(True)
            try:
                yield connection
            finally:
                inside_turn.reset(token)
                if self.closed or connection.invalidated:
                    await self.release()
                else:
                    loop = asyncio.get_running_loop()
                    self.idle = loop.call_later(IDLE_RELEASE, self._release_idle)

    async def close(self) -> None:
        self.closed = True
        self._stop_idle()
        if not self.lock.locked():
            await self.release()

    async def release(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.close()

    def _release_idle(self) -> None:
        self.idle = None
        if not self.lock.locked() and self.connection is not None:
            connection, self.connection = self.connection, None  # no turn can take it now
            self.releasing = asyncio.ensure_future(connection.close())

    def _stop_idle(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None


# The current request's shared connection, if any (set by `one_connection`); and whether
# the current task is inside a turn on it (a nested use gets a connection of its own
# rather than wait for itself).
shared_connection: ContextVar[SharedConnection | None] = ContextVar(
    "shared_connection", default=None
)
inside_turn: ContextVar[bool] = ContextVar("inside_turn", default=False)


@asynccontextmanager
async def one_connection(engine: AsyncEngine) -> AsyncIterator[None]:
    """Reads and writes of the current task, and of the tasks it starts, share one
    pooled connection until the block ends."""
    holder = SharedConnection(engine)
    token = shared_connection.set(holder)
    try:
        yield
    finally:
        shared_connection.reset(token)
        await holder.close()


@asynccontextmanager
async def connection_of(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The current request's shared connection, or a pooled connection of its own."""
    holder = shared_connection.get()
    if holder is None or holder.engine is not engine or inside_turn.get():
        async with engine.connect() as connection:
            yield connection
    else:
        async with holder.turn() as connection:
            yield connection


def gate_reads(gate: asyncio.Semaphore) -> None:
    """Reads of the current task, and of every task it starts from now on, pass `gate`:
    at most its size of them hold a connection at once."""
    read_gate.set(gate)


def live_read_gate() -> asyncio.Semaphore:
    return asyncio.Semaphore(LIVE_READS)


_LOCK = select(customers.c.id).where(customers.c.id == bindparam("customer_id")).with_for_update()


async def lock_customer(connection: AsyncConnection, customer_id: str) -> bool:
    """Serialize writers of one customer on PostgreSQL; True if the customer exists."""
    return (await connection.execute(_LOCK, {"customer_id": customer_id})).first() is not None
