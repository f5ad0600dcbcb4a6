"""The in-memory broker: one process fans committed changes out to its subscribers.

Each subscription has a bounded queue. A subscriber too slow to keep up is marked
overflowed and its next read raises `Overflowed`: it is ended, never buffered without
bound, and can resume from the database by sequence. A subscription is released when
its `async with` block ends, however it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.events import Committed

DEFAULT_CAPACITY = 1000
log = logging.getLogger("credits.live")


@dataclass
class Resync(Committed):
    """What changed did not travel with the event: subscribers re-read it from the database.

    The PostgreSQL broker sends one to every subscription after its listening connection
    came back (`sequences` empty: any ledger may have moved; grants changed at or after
    `at` are sent again), and one instead of a change that named too many grants to notify
    (`sequences` and `at` are then the change's own).
    """


class Overflowed(Exception):
    """The subscriber fell more than its queue's capacity behind."""


class Subscription:
    """A subscriber's changes, in order: at most `capacity` waiting. Cheaper than an
    asyncio.Queue: a change wakes a waiting reader through one future, and nothing else."""

    def __init__(self, broker: MemoryBroker, customer_id: str, capacity: int) -> None:
        self.broker = broker
        self.customer_id = customer_id
        self.capacity = capacity
        self.pending: deque[Committed] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.on_release: list[Callable[[], None]] = []
        self.fast: Callable[[Committed], bool] | None = None

    def offer(self, committed: Committed) -> None:
        if self.overflowed:
            return
        if self.fast is not None and not self.pending and self.parked() and self.took(committed):
            return
        if len(self.pending) >= self.capacity:
            self.overflowed = True
            self.pending.clear()  # drop the backlog; the reader ends at its next read
        else:
            self.pending.append(committed)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def parked(self) -> bool:
        """Whether the reader waits for a change, having done with every earlier one."""
        waiter = self.waiter
        return waiter is not None and not waiter.done()

    def took(self, committed: Committed) -> bool:
        """Whether the fast lane handled the change in full, here, for a parked reader
        (`app.api.fast_lane`); if not, or if it failed, the reader gets the change."""
        assert self.fast is not None
        try:
            return self.fast(committed)
        except Exception:
            log.exception("the fast lane failed; the subscriber reads the change itself")
            return False

    async def next(self) -> Committed:
        while not self.pending and not self.overflowed:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        if self.overflowed:
            raise Overflowed(self.customer_id)
        return self.pending.popleft()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.broker.release(self)
        for callback in self.on_release:
            callback()


@runtime_checkable
class Broker(Protocol):
    async def stage(self, connection: AsyncConnection, committed: Committed) -> None: ...

    async def publish(self, committed: Committed) -> None: ...

    def subscribe(self, customer_id: str) -> Subscription: ...

    def subscriber_count(self) -> int: ...


class MemoryBroker:
    """One process: `publish` after commit offers the change to local subscribers."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def stage(self, connection: AsyncConnection, committed: Committed) -> None:
        return None

    async def publish(self, committed: Committed) -> None:
        self.deliver(committed)

    def deliver(self, committed: Committed) -> None:
        for subscription in list(self.subscribers.get(committed.customer_id, ())):
            subscription.offer(committed)

    def subscribe(self, customer_id: str) -> Subscription:
        subscription = Subscription(self, customer_id, self.capacity)
        self.subscribers[customer_id].add(subscription)
        return subscription

    def release(self, subscription: Subscription) -> None:
        group = self.subscribers.get(subscription.customer_id)
        if group is not None:
            group.discard(subscription)
            if not group:
                del self.subscribers[subscription.customer_id]

    def subscriber_count(self) -> int:
        return sum(len(group) for group in self.subscribers.values())
