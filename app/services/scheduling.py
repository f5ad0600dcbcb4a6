"""Time-driven entries: funding at a future effectiveAt, and expiry (DESIGN §5).

`book_due_events` is what the scheduler runs every tick, what `credits sweep` runs once,
and what a read request runs first, so every answer is exact at the instant it describes.
Each customer's events are booked in that customer's own write transaction, under its
lock, so several processes may sweep at once and each event is booked exactly once.
"""

from __future__ import annotations

from sqlalchemy import select

from app.domain.ledger import SYSTEM
from app.services.common import customer_transaction
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.tables import grants


async def due_customers(runtime: Runtime, limit: int = 1000) -> list[str]:
    now = runtime.clock.now()
    statement = (
        select(grants.c.customer_id)
        .where(grants.c.next_event_at <= now)
        .group_by(grants.c.customer_id)
        .limit(limit)
    )
    async with read_connection(runtime.engine) as connection:
        return [str(customer_id) for customer_id in (await connection.execute(statement)).scalars()]


async def book_due_events(runtime: Runtime) -> int:
    """Book every event that is due; returns how many customers had some."""
    total = 0
    while customer_ids := await due_customers(runtime):
        for customer_id in customer_ids:
            async with customer_transaction(runtime, customer_id, SYSTEM, "unused"):
                pass  # the transaction frame books what is due before the use case
        total += len(customer_ids)
        if len(customer_ids) < 1000:
            break
    return total
