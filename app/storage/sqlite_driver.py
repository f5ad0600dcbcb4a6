"""aiosqlite as SQLAlchemy drives it, with one hand-off to the connection's thread per
statement.

aiosqlite runs each call on the connection's own thread and wakes the event loop with
the result: every hand-off costs event-loop turns. SQLAlchemy's adapter makes four per
statement (create the cursor, execute, fetch the rows, close the cursor); this cursor
does the four in one call on that thread. A `BEGIN DEFERRED` waits and goes with the
next statement: SQLite's deferred transaction takes nothing until that statement anyway
(so a transaction that runs none costs no hand-off). `BEGIN IMMEDIATE` goes at once: the
write lock must be held when it returns. Server-side cursors (`stream`) keep the adapter's
own.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import await_

Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


DEFERRED = "BEGIN DEFERRED"


def _run(
    connection: sqlite3.Connection,
    begin: str | None,
    operation: str,
    parameters: Any,
    many: bool,
) -> Outcome:
    """On the connection's thread: begin if due, execute, fetch every row, close."""
    if begin is not None:
        connection.execute(begin)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class Cursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor holding the outcome of its last statement; no thread cursor between
    statements, so creating and closing it costs no hand-off."""

    __slots__ = ("_outcome", "_size")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # the adapter's close() skips it
        self._rows = deque()
        self._outcome: tuple[Any, int, int | None] = (None, -1, None)
        self._size = 1

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[1]

    @property
    def lastrowid(self) -> Any:
        return self._outcome[2]

    @property
    def arraysize(self) -> int:
        return self._size

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._size = value

    async def _async_soft_close(self) -> None:
        return None

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._hand_off(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._hand_off(operation, seq_of_parameters, many=True)

    def _hand_off(self, operation: str, parameters: Any, *, many: bool) -> None:
        connection: Connection = self._adapt_connection  # type: ignore[assignment]
        outcome: Outcome = (None, -1, None, [])
        if operation == DEFERRED:
            connection.deferred = True
        else:
            outcome = connection.run(operation, parameters, many)
        self._outcome = outcome[:3]
        self._rows = deque(outcome[3])


class Connection(AsyncAdapt_aiosqlite_connection):
    """`deferred`: a BEGIN DEFERRED waits for the next statement (cleared before that
    statement is handed off, so a rollback after it always reaches SQLite). `ended`: the
    last hand-off was a commit or rollback that returned, and none was made since, so no
    transaction is open: the pool's rollback on return after a commit has nothing to do
    (SQLite's own `in_transaction` is checked too, for a transaction begun on the driver
    connection directly, as the bulk writer does)."""

    __slots__ = ("deferred", "ended")
    _cursor_cls = Cursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.deferred = False
        self.ended = False

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # the adapter's own cursor, which hands off by itself: begin first
            self.ended = False
            if self.deferred:
                self.deferred = False
                self.run(DEFERRED)
        return super().cursor(server_side)

    def run(self, operation: str, parameters: Any = None, many: bool = False) -> Outcome:
        """One hand-off: the waiting BEGIN DEFERRED if any, then `operation`."""
        self.ended = False
        try:
            return await_(self._run(operation, parameters, many))
        except Exception as error:
            self._handle_exception(error)

    async def _run(self, operation: str, parameters: Any, many: bool) -> Outcome:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._execute_mutex:
            begin, self.deferred = (DEFERRED if self.deferred else None), False
            run = partial(_run, connection._conn, begin, operation, parameters, many)
            outcome: Outcome = await connection._execute(run)  # type: ignore[no-untyped-call]
            return outcome

    def commit(self) -> None:
        self._end(super().commit)

    def rollback(self) -> None:
        if self.deferred:  # no transaction began: none to end (checked before `ended`)
            self.deferred = False
            return
        sqlite = self._connection._connection  # None: closed
        if self.ended and (sqlite is None or not sqlite.in_transaction):
            return
        self._end(super().rollback)

    def _end(self, end: Callable[[], None]) -> None:
        if self.deferred:  # no transaction began: none to end
            self.deferred = False
            return
        self.ended = False
        end()
        self.ended = True


class Driver(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module to pass as `module=` to the aiosqlite dialect."""

    def connect(self, *args: Any, **kw: Any) -> Connection:
        adapted = super().connect(*args, **kw)
        return Connection(self, adapted._connection)


def driver() -> Driver:
    return Driver(aiosqlite, sqlite3)
