"""A request-scoped batch loader that waits for a whole wave of loads before it queries.

Strawberry's DataLoader dispatches two event-loop turns after the first load. Nested
lists resolve over several turns, so one relation level split into many batches (ten
statements for 1,000 grants' entries). This loader dispatches only once a turn passes
with no new key, so each relation level is one statement however large the page.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

QUIET_TURNS = 2


class BatchLoader(Generic[K, V]):
    def __init__(self, load_fn: Callable[[list[K]], Awaitable[list[V]]]) -> None:
        self.load_fn = load_fn
        self.cache: dict[K, asyncio.Future[V]] = {}
        self.pending: dict[K, asyncio.Future[V]] = {}
        self.dispatcher: asyncio.Task[None] | None = None

    def load(self, key: K) -> asyncio.Future[V]:
        """A future of the value for `key`; the same future for the same key."""
        found = self.cache.get(key)
        if found is not None:
            return found
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self.cache[key] = self.pending[key] = future
        if self.dispatcher is None:
            self.dispatcher = asyncio.create_task(self.dispatch())
        return future

    async def dispatch(self) -> None:
        quiet, seen = 0, -1
        while quiet < QUIET_TURNS:
            await asyncio.sleep(0)
            quiet, seen = (quiet + 1, seen) if len(self.pending) == seen else (0, len(self.pending))
        batch, self.pending, self.dispatcher = self.pending, {}, None
        keys = list(batch)
        try:
            values = await self.load_fn(keys)
        except Exception as error:
            for future in batch.values():
                if not future.done():
                    future.set_exception(error)
            return
        for key, value in zip(keys, values, strict=True):
            if not batch[key].done():
                batch[key].set_result(value)


def loader(load: Callable[[list[K]], Awaitable[list[V]]]) -> BatchLoader[K, V]:
    return BatchLoader(load)


def group(keys: Iterable[K], by: Callable[[K], Hashable]) -> dict[Any, list[K]]:
    """A batch's distinct keys by what one statement can answer for them together."""
    groups: dict[Any, dict[K, None]] = defaultdict(dict)
    for key in keys:
        groups[by(key)][key] = None
    return {common: list(members) for common, members in groups.items()}
