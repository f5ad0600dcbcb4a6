"""The ledger export's SQL: every matching entry with the keys and terms it refers to.

Rows come in the ledger's order (customer id, currency, sequence: the unique index's
order, so no sort) a batch at a time from a server-side cursor, so memory does not grow
with the ledger. The caller chooses the transaction (one snapshot for the whole export).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.tables import accounts, consumptions, customers, entries, grants

BATCH = 1000  # rows fetched from the cursor at a time


@dataclass(frozen=True)
class ExportFilter:
    """Which entries: one customer, one currency, bookedAt in [booked_from, booked_before)."""

    customer_id: str | None = None
    currency: str | None = None
    booked_from: datetime | None = None
    booked_before: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.customer_id is not None:
            found.append(entries.c.customer_id == self.customer_id)
        if self.currency is not None:
            found.append(entries.c.currency == self.currency)
        if self.booked_from is not None:
            found.append(entries.c.booked_at >= self.booked_from)
        if self.booked_before is not None:
            found.append(entries.c.booked_at < self.booked_before)
        return found


# In the export's field order (app/services/export.py unpacks rows by position).
COLUMNS = (
    entries.c.id,
    entries.c.transaction_id,
    entries.c.customer_id,
    customers.c.key.label("customer_key"),
    entries.c.currency,
    entries.c.sequence,
    entries.c.type,
    entries.c.amount,
    entries.c.balance_before,
    entries.c.balance_after,
    entries.c.grant_id,
    entries.c.funding_method,
    grants.c.cost_basis,
    grants.c.purchase_currency,
    entries.c.consumption_id,
    consumptions.c.key.label("consumption_key"),
    entries.c.actor_type,
    entries.c.actor_id,
    entries.c.actor_name,
    entries.c.booked_at,
    entries.c.created_at,
    entries.c.feature_key,
    entries.c.description,
    entries.c.labels,
    entries.c.hash,
)


def export_statement(which: ExportFilter) -> Select[Any]:
    joined = (
        entries.join(customers, customers.c.id == entries.c.customer_id)
        .join(grants, grants.c.id == entries.c.grant_id)
        .outerjoin(consumptions, consumptions.c.id == entries.c.consumption_id)
    )
    return (
        select(*COLUMNS)
        .select_from(joined)
        .where(*which.conditions())
        .order_by(entries.c.customer_id, entries.c.currency, entries.c.sequence)
    )


async def stream_entries(
    connection: AsyncConnection, which: ExportFilter
) -> AsyncIterator[Sequence[Any]]:
    """The rows a batch at a time (one hop to the driver's thread per batch, not per row)."""
    statement = export_statement(which).execution_options(yield_per=BATCH)
    result = await connection.stream(statement)
    async for rows in result.partitions():
        yield rows


async def count_entries(connection: AsyncConnection, which: ExportFilter) -> int:
    statement = select(func.count()).select_from(entries).where(*which.conditions())
    return int((await connection.execute(statement)).scalar_one())


async def currencies_of(connection: AsyncConnection, which: ExportFilter) -> set[str]:
    """The currencies the export may hold (their scales are looked up once, before it starts)."""
    statement = select(accounts.c.currency).distinct()  # one row per ledger: few
    if which.customer_id is not None:
        statement = statement.where(accounts.c.customer_id == which.customer_id)
    return set((await connection.execute(statement)).scalars())
