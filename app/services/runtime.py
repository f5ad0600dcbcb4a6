"""What every use case needs: the engine, the clock, the currencies, the publisher and
the webhooks' outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.events import Committed
from app.domain.time import Clock

if TYPE_CHECKING:
    from app.services.currencies import CurrencyCatalog
    from app.services.webhooks.outbox import Outbox


class Publisher(Protocol):
    """Hands committed changes to live subscribers (implemented in `app.live`).

    `stage` runs inside the write transaction, just before it commits (PostgreSQL's
    NOTIFY is delivered only if and when the transaction commits); `publish` runs after
    the commit, in commit order for one customer within this process.
    """

    async def stage(self, connection: AsyncConnection, committed: Committed) -> None: ...

    async def publish(self, committed: Committed) -> None: ...


class CustomerLocks:
    """In-process order of one customer's writes: commit and publish happen in the same
    order, so subscribers see changes in sequence order. (The database serializes writers
    across processes; this only keeps one process's publishing in step with it.)"""

    def __init__(self) -> None:
        self.locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, customer_id: str) -> AsyncIterator[None]:
        lock, users = self.locks.get(customer_id, (asyncio.Lock(), 0))
        self.locks[customer_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self.locks[customer_id]
            if users == 1:
                del self.locks[customer_id]
            else:
                self.locks[customer_id] = (lock, users - 1)


@dataclass
class Runtime:
    engine: AsyncEngine
    clock: Clock
    catalog: CurrencyCatalog
    publisher: Publisher
    customer_locks: CustomerLocks = field(default_factory=CustomerLocks)
    outbox: Outbox = field(init=False)  # made from the engine and catalog

    def __post_init__(self) -> None:
        from app.services.webhooks.outbox import Outbox  # it needs the storage layer

        self.outbox = Outbox(self.engine, self.catalog)
