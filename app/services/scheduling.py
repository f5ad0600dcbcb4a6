"""Time-driven entries: funding at a future effectiveAt, expiry, and schedules' occurrences
(docs/concepts.md, the ledger; docs/schedules.md).

`book_due_events` is what the scheduler runs every tick and what `credits sweep` runs
once. A request books only the customers it reads or writes: a write in its own
transaction frame, a read through `due_among` and `book_due_events_of` (see
`app.api.catch_up`). Each customer's events are booked in that customer's own write
transaction, under its lock, so several processes may book at once and each event is
booked exactly once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, Table, or_, select, union

from app.domain.ledger import SYSTEM
from app.services.common import customer_transaction
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.tables import grants, schedules

DUE_TABLES = (grants, schedules)  # what holds due instants: `next_event_at`, per customer

PAGE = 1000


async def due_customers(
    runtime: Runtime, limit: int = PAGE, by: datetime | None = None
) -> list[str]:
    """Customers with an event (of a grant or a schedule) due at or before `by` (default now)."""
    instant = by or runtime.clock.now()
    due = union(*(select(t.c.customer_id).where(t.c.next_event_at <= instant) for t in DUE_TABLES))
    statement = select(due.subquery().c.customer_id).limit(limit)
    async with read_connection(runtime.engine) as connection:
        return [str(customer_id) for customer_id in (await connection.execute(statement)).scalars()]


async def book_due_events(runtime: Runtime, by: datetime | None = None) -> int:
    """Book every event due by now of each customer with one due at or before `by`
    (default now); returns how many customers were booked."""
    total = 0
    while customer_ids := await due_customers(runtime, by=by):
        await book_due_events_of(runtime, customer_ids)
        total += len(customer_ids)
        if len(customer_ids) < PAGE:
            break
    return total


async def due_among(
    runtime: Runtime,
    now: datetime,
    *,
    customer_ids: Collection[str] = (),
    grant_ids: Collection[str] = (),
) -> list[str]:
    """Which of these customers, and of the owners of these grants, have an event due at
    `now`: one statement on the index of due instants, no write."""
    if not customer_ids and not grant_ids:
        return []
    async with read_connection(runtime.engine) as connection:
        rows = await connection.execute(due_statement(now, customer_ids, grant_ids))
        return [str(customer_id) for customer_id in rows.scalars()]


def due_statement(
    now: datetime, customer_ids: Collection[str], grant_ids: Collection[str]
) -> CompoundSelect[Any]:
    """`due_among`'s statement (customers and grants not both empty)."""
    return union(*(_due_of(table, now, customer_ids, grant_ids) for table in DUE_TABLES))


def _due_of(
    table: Table, now: datetime, customer_ids: Collection[str], grant_ids: Collection[str]
) -> Select[Any]:
    owners: list[ColumnElement[bool]] = []
    if customer_ids:
        owners.append(table.c.customer_id.in_(sorted(customer_ids)))
    if grant_ids:
        owned = select(grants.c.customer_id).where(grants.c.id.in_(sorted(grant_ids)))
        owners.append(table.c.customer_id.in_(owned.scalar_subquery()))
    return select(table.c.customer_id).where(table.c.next_event_at <= now, or_(*owners))


async def book_due_events_of(runtime: Runtime, customer_ids: Collection[str]) -> None:
    """Book what is due for each of these customers, one write transaction each."""
    for customer_id in sorted(customer_ids):
        async with customer_transaction(runtime, customer_id, SYSTEM, "unused"):
            pass  # the transaction frame books what is due before the use case
