"""The compiled read path's SQL: one statement per level, only the columns it selects.

Lists come in their default orders (the loaders' own), unfiltered, paged by the one
builder of app.storage.queries.pages. A statement is built once per `Shape` (table,
columns, order, which bounds, scope) and run with parameters (`pages.parameters`, and
`:scope` the portal token's customer). Rows carry the selected columns, then the sort
keys (`cursor_k0`, …) when the shape asks for cursors, then `page_parent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, String, Table, bindparam, func, select
from sqlalchemy.sql import ColumnElement

from app.storage.queries import customers as customer_queries
from app.storage.queries import grants as grant_queries
from app.storage.queries import ledger as ledger_queries
from app.storage.queries.pages import Bounds, Ordering, keyset_statement, per_parent_statement
from app.storage.tables import customers, entries, grants

ORDERS = {  # the loaders' default orders
    "customer": customer_queries.ORDER,
    "ledger": ledger_queries.ORDER,
    "grant": Ordering(*grant_queries.ORDERS["CREATED_AT"]),
}
TABLES = {table.name: table for table in (customers, grants, entries)}


@dataclass(frozen=True)
class Shape:
    """What a statement's text depends on (its parameters aside)."""

    table: str
    names: tuple[str, ...]
    order: str
    bounds: Bounds
    cursors: bool = False
    scope: str | None = None  # the column compared with :scope


@lru_cache(maxsize=256)
def page_statement(shape: Shape) -> Select[Any]:
    table = TABLES[shape.table]
    statement = select(*[table.c[n] for n in shape.names]).where(*_scoped(table, shape.scope))
    return keyset_statement(statement, ORDERS[shape.order], shape.bounds, shape.cursors)


@lru_cache(maxsize=256)
def pages_statement(shape: Shape, parent: str, dialect: str) -> Select[Any]:
    table = TABLES[shape.table]
    return per_parent_statement(
        table,
        [table.c[n] for n in shape.names],
        table.c[parent],
        _scoped(table, shape.scope),
        ORDERS[shape.order],
        shape.bounds,
        dialect=dialect,
        cursors=shape.cursors,
    )


@lru_cache(maxsize=256)
def by_ids_statement(table_name: str, names: tuple[str, ...], scope: str | None) -> Select[Any]:
    table = TABLES[table_name]
    key = table.primary_key.columns.values()[0]
    ids = key.in_(bindparam("ids", expanding=True))
    return select(*[table.c[n] for n in names]).where(ids, *_scoped(table, scope))


@lru_cache(maxsize=256)
def match_statement(
    table_name: str, names: tuple[str, ...], match: str, scope: str | None
) -> Select[Any]:
    """The rows whose `match` column equals :match (a customer by id or by key)."""
    table = TABLES[table_name]
    condition = table.c[match] == bindparam("match", type_=String())
    return select(*[table.c[n] for n in names]).where(condition, *_scoped(table, scope))


@lru_cache(maxsize=64)
def count_statement(table_name: str, parent: str | None, scope: str | None) -> Select[Any]:
    """How many rows a list holds: all of it, or per parent named in :ids (parent, count)."""
    table = TABLES[table_name]
    if parent is None:
        return select(func.count()).select_from(table).where(*_scoped(table, scope))
    column = table.c[parent]
    chosen = column.in_(bindparam("ids", expanding=True))
    return select(column, func.count()).where(chosen, *_scoped(table, scope)).group_by(column)


def _scoped(table: Table, scope: str | None) -> list[ColumnElement[bool]]:
    """`scope` names the column a portal token's customer must match (None: no scope)."""
    if scope is None:
        return []
    return [table.c[scope] == bindparam("scope", type_=String())]
