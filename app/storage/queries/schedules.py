"""Grant schedules: by id, each customer's page of them (in creation order), each
schedule's page of grants (latest occurrence first), and the counts of both lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.queries import rows
from app.storage.queries.pages import Ordering, Page, Slice, per_parent_select, slices_by_parent
from app.storage.tables import grants, schedules

ORDER = Ordering((schedules.c.created_at, schedules.c.id), (datetime, str))
GRANTS_ORDER = Ordering((grants.c.effective_at, grants.c.id), (datetime, str), descending=True)


async def by_ids(connection: AsyncConnection, ids: Sequence[str], scope: str | None) -> list[Any]:
    return await rows.by_ids(connection, schedules, ids, scope)


async def pages(
    connection: AsyncConnection, customer_ids: Sequence[str], page: Page
) -> dict[str, Slice]:
    """Each customer's page of schedules, in one statement."""
    return await _pages(connection, schedules, schedules.c.customer_id, customer_ids, ORDER, page)


async def grant_pages(
    connection: AsyncConnection, schedule_ids: Sequence[str], page: Page
) -> dict[str, Slice]:
    """Each schedule's page of the grants it booked, in one statement."""
    return await _pages(connection, grants, grants.c.schedule_id, schedule_ids, GRANTS_ORDER, page)


async def counts(
    connection: AsyncConnection, parent: Column[Any], parent_ids: Sequence[str]
) -> dict[str, int]:
    """How many rows each parent has: a customer's schedules (`schedules.c.customer_id`)
    or a schedule's grants (`grants.c.schedule_id`)."""
    statement = select(func.count(), parent).where(parent.in_(parent_ids)).group_by(parent)
    found = {row[1]: int(row[0]) for row in await connection.execute(statement)}
    return {parent_id: found.get(parent_id, 0) for parent_id in parent_ids}


async def _pages(
    connection: AsyncConnection,
    table: Table,
    parent: Column[Any],
    parent_ids: Sequence[str],
    ordering: Ordering,
    page: Page,
) -> dict[str, Slice]:
    dialect = connection.dialect.name
    statement = per_parent_select(table, parent, parent_ids, [], ordering, page, dialect=dialect)
    return slices_by_parent(list(await connection.execute(statement)), parent_ids, page)
