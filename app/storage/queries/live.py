"""The live side's SQL: what subscriptions read when they start and to fill gaps.

Reads for many subscribers are batched by their callers: one statement answers which
customers exist, or the last sequences of many customers' ledgers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.tables import accounts, customers, entries, grants

BATCH = 500  # ids per statement: well under every engine's parameter limit


async def existing_customers(connection: AsyncConnection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), BATCH):
        statement = select(customers.c.id).where(customers.c.id.in_(ids[start : start + BATCH]))
        found.update(str(i) for i in (await connection.execute(statement)).scalars())
    return found


async def last_sequences(
    connection: AsyncConnection, customer_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """The last sequence of each ledger (currency) of each of these customers."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for start in range(0, len(customer_ids), BATCH):
        statement = select(accounts.c.customer_id, accounts.c.currency, accounts.c.sequence).where(
            accounts.c.customer_id.in_(customer_ids[start : start + BATCH])
        )
        for row in await connection.execute(statement):
            found[str(row.customer_id)][row.currency] = row.sequence
    return {customer_id: dict(found[customer_id]) for customer_id in customer_ids}


async def grants_changed_since(
    connection: AsyncConnection, customer_id: str, at: datetime | None
) -> list[str]:
    """The customer's grants changed at or after an instant (all of them without one)."""
    statement = (
        select(grants.c.id)
        .where(grants.c.customer_id == customer_id)
        .order_by(grants.c.updated_at, grants.c.id)
    )
    if at is not None:
        statement = statement.where(grants.c.updated_at >= at)
    return [str(grant_id) for grant_id in (await connection.execute(statement)).scalars()]


async def entries_after(
    connection: AsyncConnection, customer_id: str, currency: str, after: int, limit: int
) -> list[Any]:
    """A page of one ledger's entries after a sequence, in sequence order."""
    statement = (
        select(entries)
        .where(
            entries.c.customer_id == customer_id,
            entries.c.currency == currency,
            entries.c.sequence > after,
        )
        .order_by(entries.c.sequence)
        .limit(limit)
    )
    return list(await connection.execute(statement))
