"""One read transaction shared by the reads of one answer (the compiled lane's).

The plain-SQL floor reads a dashboard in one transaction; a transaction per batch costs
a BEGIN and a COMMIT each (event-loop hand-offs on aiosqlite, round trips on asyncpg),
and one transaction answers from one state of the database. Batches of one level run
concurrently: they take turns on the connection, one statement (or one batch's
statements) at a time. Nothing is written inside it: catch-up defers a booking it finds
due (`app.api.catch_up.Due`) until the transaction has ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


class Snapshot:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.lock = asyncio.Lock()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[AsyncConnection]:
        async with self.lock:
            yield self.connection

    async def rows(self, statement: Any, parameters: Any = None) -> list[Any]:
        async with self.lock:
            return list((await self.connection.execute(statement, parameters)).all())
