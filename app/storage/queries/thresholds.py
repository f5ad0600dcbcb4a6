"""Thresholds and their events: by id, a customer's thresholds, pages of events (oldest
first) of customers or of thresholds with their counts, and events after a sequence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.domain.thresholds import ThresholdState
from app.storage.queries import rows
from app.storage.queries.pages import Ordering, Page, Slice, per_parent_select, slices_by_parent
from app.storage.queries.rows import scoped
from app.storage.tables import accounts, threshold_events, thresholds

ORDER = Ordering((threshold_events.c.position,), (int,))
# whose events a page lists: a customer's or a threshold's
PARENTS = {"customer": threshold_events.c.customer_id, "threshold": threshold_events.c.threshold_id}


async def by_ids(connection: AsyncConnection, ids: Sequence[str], scope: str | None) -> list[Any]:
    return await rows.by_ids(connection, thresholds, ids, scope)


async def events_by_ids(
    connection: AsyncConnection, ids: Sequence[str], scope: str | None
) -> list[Any]:
    return await rows.by_ids(connection, threshold_events, ids, scope)


async def of_customers(
    connection: AsyncConnection,
    customer_ids: Sequence[str],
    currency: str | None,
    include_deleted: bool,
) -> list[Any]:
    """The customers' thresholds, oldest first."""
    statement = select(thresholds).where(thresholds.c.customer_id.in_(customer_ids))
    if currency is not None:
        statement = statement.where(thresholds.c.currency == currency)
    if not include_deleted:
        statement = statement.where(thresholds.c.state != ThresholdState.DELETED.value)
    ordered = statement.order_by(thresholds.c.created_at, thresholds.c.id)
    return list(await connection.execute(ordered))


def _conditions(currency: str | None, scope: str | None) -> list[ColumnElement[bool]]:
    currencies = [] if currency is None else [threshold_events.c.currency == currency]
    return [*currencies, *scoped(threshold_events.c.customer_id, scope)]


async def pages(
    connection: AsyncConnection,
    kind: str,
    parent_ids: Sequence[str],
    currency: str | None,
    page: Page,
    scope: str | None,
) -> dict[str, Slice]:
    """Each parent's page of events in one statement, oldest first."""
    paged = per_parent_select(
        threshold_events,
        PARENTS[kind],
        parent_ids,
        _conditions(currency, scope),
        ORDER,
        page,
        dialect=connection.dialect.name,
    )
    return dict(slices_by_parent(list(await connection.execute(paged)), parent_ids, page))


async def counts(
    connection: AsyncConnection,
    kind: str,
    parent_ids: Sequence[str],
    currency: str | None,
    scope: str | None,
) -> dict[str | None, int]:
    parent = PARENTS[kind]
    statement = (
        select(func.count(), parent)
        .where(parent.in_(parent_ids), *_conditions(currency, scope))
        .group_by(parent)
    )
    found = {row[1]: int(row[0]) for row in await connection.execute(statement)}
    return {parent_id: found.get(parent_id, 0) for parent_id in parent_ids}


async def events_after(
    connection: AsyncConnection, customer_id: str, currency: str, after: int, limit: int
) -> list[Any]:
    """A page of one ledger's threshold events after a sequence, in sequence order."""
    statement = (
        select(threshold_events)
        .where(
            threshold_events.c.customer_id == customer_id,
            threshold_events.c.currency == currency,
            threshold_events.c.sequence > after,
        )
        .order_by(threshold_events.c.sequence)
        .limit(limit)
    )
    return list(await connection.execute(statement))


async def last_sequences(connection: AsyncConnection, customer_id: str) -> dict[str, int]:
    """The last threshold event's sequence of each of the customer's ledgers."""
    statement = select(accounts.c.currency, accounts.c.threshold_sequence).where(
        accounts.c.customer_id == customer_id
    )
    return {
        row.currency: int(row.threshold_sequence) for row in await connection.execute(statement)
    }
