"""A request books the due events of the customers it reads, and only theirs.

Why, and what each read books, is in docs/decisions.md ("A request books the due events").

Before a batch reads what time-driven events change (balances, grants, ledger pages and
their counts, upcoming expirations), the loaders ask this request's `CatchUp` for the
customers the batch concerns. One statement finds which of them have an event due; each
of those is booked in a write transaction of its own, and a customer with nothing due
costs no write. Each customer is checked once per request, however many batches read it.

What time-driven events do not change is read without a check: customers' own fields,
consumptions and ledger entries already written (entries are immutable).

The compiled lane reads in one transaction (`app.api.snapshot`), which must not write:
while it runs, the checks read in it, and a check that finds something due raises `Due`
instead of booking. The lane then ends its transaction, has `book_deferred` book what
was found, and answers anew in a new transaction (which sees the booked entries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from app.api.snapshot import Snapshot
from app.services.runtime import Runtime
from app.services.scheduling import (
    book_due_events,
    book_due_events_of,
    due_among,
    due_statement,
)

TIME_DRIVEN = frozenset({"FUNDED", "EXPIRED"})  # the only entry types catch-up books


class Due(Exception):
    """A check inside the compiled lane's read transaction found events due."""


class CatchUp:
    def __init__(self, runtime: Runtime, now: datetime, scope: str | None) -> None:
        self.runtime = runtime
        self.now = now
        self.scope = scope  # a portal token's customer: nobody else is booked for it
        self.customers_done: dict[str, asyncio.Future[None]] = {}
        self.grants_done: dict[str, asyncio.Future[None]] = {}
        self.snapshot: Snapshot | None = None  # the compiled lane's, while it reads
        self.deferred: set[str] = set()  # customers found due inside it, not booked yet
        self.everyone_done: asyncio.Task[None] | None = None

    async def customers(self, customer_ids: Iterable[str]) -> None:
        wanted = {c for c in customer_ids if self.scope in (None, c)}
        new = wanted - self.customers_done.keys()
        if new and self.everyone_done is None:
            task = asyncio.ensure_future(self._book(customer_ids=new))
            self.customers_done.update(dict.fromkeys(new, task))
        await self._finished({self.customers_done[c] for c in wanted if c in self.customers_done})

    async def grants(self, grant_ids: Iterable[str], owners: Mapping[str, str]) -> None:
        """The owners of these grants; `owners` maps the grants this request knows already."""
        wanted = set(grant_ids)
        await self.customers(owners[g] for g in wanted if g in owners)
        new = {g for g in wanted - owners.keys() if g not in self.grants_done}
        if new and self.everyone_done is None:
            task = asyncio.ensure_future(self._book(grant_ids=new))
            self.grants_done.update(dict.fromkeys(new, task))
        await self._finished({self.grants_done[g] for g in wanted if g in self.grants_done})

    async def everyone(self) -> None:
        """A read across all customers (the root ledger): any due event may land in it."""
        if self.scope is not None:
            await self.customers([self.scope])
            return
        if self.everyone_done is None:
            self.everyone_done = asyncio.ensure_future(self._book_everyone())
        await self._finished({self.everyone_done})

    async def _book(
        self, *, customer_ids: Collection[str] = (), grant_ids: Collection[str] = ()
    ) -> None:
        """Run as a task: book the due customers no earlier task has taken on, then wait
        for those that one has (tasks only wait for earlier ones: no cycle)."""
        if self.snapshot is None:
            due = await due_among(
                self.runtime, self.now, customer_ids=customer_ids, grant_ids=grant_ids
            )
        else:
            statement = due_statement(self.now, customer_ids, grant_ids)
            due = [str(row[0]) for row in await self.snapshot.rows(statement)]
        this = asyncio.current_task()
        assert this is not None
        taken = {c: self.customers_done.setdefault(c, this) for c in due if self.scope in (None, c)}
        mine = [c for c, task in taken.items() if task is this]
        if mine and self.snapshot is not None:
            self.deferred.update(mine)
            raise Due
        if mine:
            await book_due_events_of(self.runtime, mine)
        await self._finished({task for task in taken.values() if task is not this})

    async def settled(self) -> None:
        """Once every check started has ended (the compiled lane's, before its
        transaction ends)."""
        tasks = {*self.customers_done.values(), *self.grants_done.values()}
        await asyncio.gather(*tasks, return_exceptions=True)

    async def book_deferred(self) -> None:
        """Book what the checks inside the compiled lane's transaction found due. Every
        customer and grant they checked is done from then on."""
        mine, self.deferred = self.deferred, set()
        await book_due_events_of(self.runtime, mine)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        for tasks in (self.customers_done, self.grants_done):
            for key, task in tasks.items():
                if task.done() and not task.cancelled() and isinstance(task.exception(), Due):
                    tasks[key] = done

    async def _book_everyone(self) -> None:
        await book_due_events(self.runtime)

    async def _finished(self, tasks: set[asyncio.Future[None]]) -> None:
        if self.everyone_done is not None:
            tasks.add(self.everyone_done)
        # Shielded: a reader cancelled mid-way must not cancel a booking others wait for.
        await asyncio.gather(*(asyncio.shield(task) for task in tasks))


def books_time_driven(types: Collection[str] | None) -> bool:
    """Whether a ledger filter by entry types can include entries that catch-up books."""
    return types is None or bool(TIME_DRIVEN & set(types))
