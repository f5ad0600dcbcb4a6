"""Reads of webhook endpoints, their deliveries (newest first) and attempts (oldest first)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.tables import webhook_attempts, webhook_deliveries, webhook_endpoints

deliveries = webhook_deliveries


async def endpoints(connection: AsyncConnection) -> list[Row[Any]]:
    statement = select(webhook_endpoints).order_by(
        webhook_endpoints.c.created_at, webhook_endpoints.c.id
    )
    return list(await connection.execute(statement))


async def endpoint(connection: AsyncConnection, endpoint_id: str) -> Row[Any] | None:
    statement = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    return (await connection.execute(statement)).first()


async def delivery(connection: AsyncConnection, delivery_id: str) -> Row[Any] | None:
    statement = select(deliveries).where(deliveries.c.id == delivery_id)
    return (await connection.execute(statement)).first()


async def deliveries_page(
    connection: AsyncConnection,
    endpoint_id: str,
    status: str | None,
    *,
    size: int,
    backward: bool,
    after: int | None,
    before: int | None,
) -> tuple[list[Row[Any]], bool]:
    """A page newest first, by position: `after`/`before` are positions of cursors. The
    rows in list order, and whether more lie beyond the page's far end."""
    statement = select(deliveries).where(deliveries.c.endpoint_id == endpoint_id)
    if status is not None:
        statement = statement.where(deliveries.c.status == status)
    if after is not None:
        statement = statement.where(deliveries.c.position < after)
    if before is not None:
        statement = statement.where(deliveries.c.position > before)
    order = deliveries.c.position.asc() if backward else deliveries.c.position.desc()
    rows = list(await connection.execute(statement.order_by(order).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return (rows[::-1] if backward else rows), more


async def delivery_count(connection: AsyncConnection, endpoint_id: str, status: str | None) -> int:
    statement = select(func.count()).where(deliveries.c.endpoint_id == endpoint_id)
    if status is not None:
        statement = statement.where(deliveries.c.status == status)
    return int((await connection.execute(statement)).scalar_one())


async def attempts_of(
    connection: AsyncConnection, delivery_ids: list[str]
) -> dict[str, list[Row[Any]]]:
    found: dict[str, list[Row[Any]]] = defaultdict(list)
    if not delivery_ids:
        return found
    statement = (
        select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id.in_(delivery_ids))
        .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.position)
    )
    for row in await connection.execute(statement):
        found[row.delivery_id].append(row)
    return found
