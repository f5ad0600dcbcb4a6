"""What every read selects: a table's columns with `labels` left as JSON text (decoded
only when a caller asks for labels); the portal-token scope as a condition; rows by id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, Text, cast, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement


def readable(table: Table) -> list[ColumnElement[Any]]:
    return [cast(c, Text).label(c.name) if c.name == "labels" else c for c in table.columns]


def scoped(customer_column: ColumnElement[Any], scope: str | None) -> list[ColumnElement[bool]]:
    """The condition that keeps a portal token's reads to its one customer (none without)."""
    return [] if scope is None else [customer_column == scope]


async def by_ids(
    connection: AsyncConnection, table: Table, ids: Sequence[str], scope: str | None
) -> list[Any]:
    """The rows of these ids (in no order) that the scope lets one see."""
    owner = table.c.customer_id if "customer_id" in table.c else table.c.id
    statement = select(*readable(table)).where(table.c.id.in_(ids), *scoped(owner, scope))
    return list(await connection.execute(statement))
