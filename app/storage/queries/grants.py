"""Grants: by id, each customer's page of a filtered list in one of five orders, the
counts of those lists, and the grants whose remaining credits expire soon."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.queries import rows
from app.storage.queries.pages import Ordering, Page, Slice, per_parent_select, slices_by_parent
from app.storage.queries.rows import readable
from app.storage.reads import expires_or_never, grant_conditions
from app.storage.tables import grants

ORDERS = {
    "CREATED_AT": ((grants.c.created_at, grants.c.id), (datetime, str)),
    "EFFECTIVE_AT": ((grants.c.effective_at, grants.c.id), (datetime, str)),
    "EXPIRES_AT": ((expires_or_never, grants.c.id), (datetime, str)),
    "PRIORITY": ((grants.c.priority, grants.c.id), (int, str)),
    "BURN_ORDER": ((grants.c.burn_key,), (str,)),
}


@dataclass(frozen=True)
class GrantQuery:
    """A grant list request in plain values: hashable, so loaders can batch by it."""

    statuses: tuple[str, ...] | None = None
    currency: str | None = None
    funding_methods: tuple[str, ...] | None = None
    settlement_statuses: tuple[str, ...] | None = None
    key: str | None = None
    feature_key: str | None = None
    order: str = "CREATED_AT"
    descending: bool = False

    def ordering(self) -> Ordering:
        keys, kinds = ORDERS[self.order]
        return Ordering(keys, kinds, self.descending)


async def by_ids(connection: AsyncConnection, ids: Sequence[str], scope: str | None) -> list[Any]:
    return await rows.by_ids(connection, grants, ids, scope)


async def pages(
    connection: AsyncConnection,
    customer_ids: Sequence[str],
    query: GrantQuery,
    page: Page,
    now: datetime,
) -> dict[str, Slice]:
    """Each customer's page of grants (statuses as of `now`), in one statement."""
    statement = per_parent_select(
        grants,
        grants.c.customer_id,
        customer_ids,
        grant_conditions(query, now),
        query.ordering(),
        page,
        dialect=connection.dialect.name,
    )
    return slices_by_parent(list(await connection.execute(statement)), customer_ids, page)


async def counts(
    connection: AsyncConnection, customer_ids: Sequence[str], query: GrantQuery, now: datetime
) -> dict[str, int]:
    """How many grants each customer's filtered list holds (none listed: 0)."""
    statement = (
        select(func.count(), grants.c.customer_id)
        .where(*grant_conditions(query, now), grants.c.customer_id.in_(customer_ids))
        .group_by(grants.c.customer_id)
    )
    found = {row[1]: int(row[0]) for row in await connection.execute(statement)}
    return {customer_id: found.get(customer_id, 0) for customer_id in customer_ids}


async def expiring(
    connection: AsyncConnection,
    customer_ids: Sequence[str],
    now: datetime,
    until: datetime,
    currency: str | None,
) -> list[Any]:
    """Funded, live grants with credits remaining that expire after `now` and by `until`,
    soonest first (ties in burn order)."""
    statement = (
        select(*readable(grants))
        .where(
            grants.c.customer_id.in_(customer_ids),
            grants.c.voided_at.is_(None),
            grants.c.funded_at.is_not(None),
            grants.c.funded_at <= now,
            grants.c.remaining > 0,
            grants.c.expires_at > now,
            grants.c.expires_at <= until,
        )
        .order_by(grants.c.expires_at, grants.c.burn_key)
    )
    if currency is not None:
        statement = statement.where(grants.c.currency == currency)
    return list(await connection.execute(statement))
