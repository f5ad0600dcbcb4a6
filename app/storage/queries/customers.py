"""Customers: by id, by key, a page of the filtered list (by id), and its count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.storage.queries import rows
from app.storage.queries.pages import Ordering, Page, Slice, keyset_select, slice_rows
from app.storage.queries.rows import readable, scoped
from app.storage.reads import customer_conditions
from app.storage.tables import customers

ORDER = Ordering((customers.c.id,), (str,))


@dataclass(frozen=True)
class CustomerQuery:
    """A customer list request in plain values: hashable, so loaders can batch by it."""

    key: str | None = None
    name_contains: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None

    def conditions(self, scope: str | None) -> list[ColumnElement[bool]]:
        found = customer_conditions(self.key, self.name_contains, self.labels)
        return [*found, *scoped(customers.c.id, scope)]


async def by_ids(connection: AsyncConnection, ids: Sequence[str], scope: str | None) -> list[Any]:
    return await rows.by_ids(connection, customers, ids, scope)


async def by_key(connection: AsyncConnection, key: str, scope: str | None) -> Any | None:
    statement = select(*readable(customers)).where(
        customers.c.key == key, *scoped(customers.c.id, scope)
    )
    return (await connection.execute(statement)).first()


async def page_of(
    connection: AsyncConnection, query: CustomerQuery, page: Page, scope: str | None
) -> Slice:
    statement = select(*readable(customers)).where(*query.conditions(scope))
    rows = await connection.execute(keyset_select(statement, ORDER, page))
    return slice_rows(list(rows), page)


async def count(connection: AsyncConnection, query: CustomerQuery, scope: str | None) -> int:
    statement = select(func.count()).select_from(customers).where(*query.conditions(scope))
    return int((await connection.execute(statement)).scalar_one())
