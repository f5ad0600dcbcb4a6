"""Reads that live subscriptions share as they start (docs/concepts.md: live updates,
errors and limits).

Thousands of subscriptions may start at once. Each must read after it subscribed (so no
change falls between its snapshot and its first event), but none needs a read of its
own: a subscription that asks before a read has started joins it, and one that asks
while a read is under way waits for the next, which then serves everyone who asked
meanwhile. So one read is in flight per kind, however many subscriptions start: which
customers exist, each ledger's last sequence, and current balances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

from app.api.websocket import message_turns, turn
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.engine import read_connection
from app.storage.queries import live

if TYPE_CHECKING:
    from app.api.balances import CreditBalance

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Keys asked for before a read starts share it; at most one read runs at a time.

    Each waiter of a read is woken in a place of `turns` (`app.api.websocket.turn`), the
    places that starting WebSocket messages take too: whatever a woken subscription then
    runs (its first result executed, encoded and sent), at most TURNS of them run in one
    turn of the event loop, so a request waits a few short turns, not one long one. The
    next read waits for the waking: one place in the queue per kind of read, so starting
    messages keep most places, and each socket keeps being read (and answers pings)."""

    def __init__(
        self,
        read_many: Callable[[list[K]], Awaitable[dict[K, V]]],
        turns: asyncio.Semaphore | None = None,
    ) -> None:
        self.read_many = read_many
        self.turns = turns or message_turns()
        self.pending: dict[K, list[asyncio.Future[V]]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.reads = 0  # batches read
        self.answered = 0  # gets answered

    async def get(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self.pending.setdefault(key, []).append(future)
        if self.reader is None:
            self.reader = asyncio.ensure_future(self.read_all())
        # Shielded: a subscriber leaving cancels its own wait, never the others' read.
        value = await asyncio.shield(future)
        self.answered += 1
        return value

    async def read_all(self) -> None:
        await asyncio.sleep(0)  # whoever asks in this turn joins the first read
        try:
            while self.pending:
                batch, self.pending = self.pending, {}
                await self.settle(batch)
        finally:
            self.reader = None

    async def settle(self, batch: dict[K, list[asyncio.Future[V]]]) -> None:
        self.reads += 1
        try:
            found = await self.read_many(list(batch))
        except Exception as error:
            for waiters in batch.values():
                for future in waiters:
                    future.set_exception(error)
            return
        for key, waiters in batch.items():
            for future in waiters:
                await turn(self.turns)
                future.set_result(found[key])


class LiveReads:
    """One per process: what starting subscriptions read, batched."""

    def __init__(self, runtime: Runtime, settings: Settings, turns: asyncio.Semaphore) -> None:
        self.runtime = runtime
        self.settings = settings
        self.customers: SingleFlight[str, bool] = SingleFlight(self._existing, turns)
        self.sequences: SingleFlight[str, dict[str, int]] = SingleFlight(self._sequences, turns)
        self.balances: SingleFlight[tuple[str, str], CreditBalance] = SingleFlight(
            self._balances, turns
        )

    async def _existing(self, customer_ids: list[str]) -> dict[str, bool]:
        async with read_connection(self.runtime.engine) as connection:
            found = await live.existing_customers(connection, customer_ids)
        return {customer_id: customer_id in found for customer_id in customer_ids}

    async def _sequences(self, customer_ids: list[str]) -> dict[str, dict[str, int]]:
        async with read_connection(self.runtime.engine) as connection:
            return await live.last_sequences(connection, customer_ids)

    async def _balances(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], CreditBalance]:
        """Current balances, through one set of loaders: one catch-up check and one read
        for them all (each subscriber was already allowed to see its customer)."""
        from app.api.loaders import Loaders

        loaders = Loaders(self.runtime, self.settings, self.runtime.clock.now())
        found = await asyncio.gather(*(loaders.balance(c, code, None, None) for c, code in keys))
        return dict(zip(keys, found, strict=True))
