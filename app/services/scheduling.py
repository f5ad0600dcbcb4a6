"""Time-driven entries: funding at a future effectiveAt, and expiry (docs/concepts.md, the ledger).

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

from sqlalchemy import ColumnElement, or_, select

from app.domain.ledger import SYSTEM
from app.services.common import customer_transaction
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.tables import grants

PAGE = 1000


async def due_customers(
    runtime: Runtime, limit: int = PAGE, by: datetime | None = None
) -> list[str]:
    """Customers with an event due at or before `by` (default now)."""
    statement = (
        select(grants.c.customer_id)
        .where(grants.c.next_event_at <= (by or runtime.clock.now()))
        .group_by(grants.c.customer_id)
        .limit(limit)
    )
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
    owners: list[ColumnElement[bool]] = []
    if customer_ids:
        owners.append(grants.c.customer_id.in_(sorted(customer_ids)))
    if grant_ids:
        owned = select(grants.c.customer_id).where(grants.c.id.in_(sorted(grant_ids)))
        owners.append(grants.c.customer_id.in_(owned.scalar_subquery()))
    if not owners:
        return []
    statement = (
        select(grants.c.customer_id)
        .where(grants.c.next_event_at <= now, or_(*owners))
        .group_by(grants.c.customer_id)
    )
    async with read_connection(runtime.engine) as connection:
        return [str(customer_id) for customer_id in (await connection.execute(statement)).scalars()]


async def book_due_events_of(runtime: Runtime, customer_ids: Collection[str]) -> None:
    """Book what is due for each of these customers, one write transaction each."""
    for customer_id in sorted(customer_ids):
        async with customer_transaction(runtime, customer_id, SYSTEM, "unused"):
            pass  # the transaction frame books what is due before the use case
