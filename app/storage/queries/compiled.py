"""The compiled read path's SQL: one statement per level, only the columns it selects.

Lists in their default orders (the loaders' own), unfiltered. `page_select` pages one
list (the root's customers); `pages_select` pages the children of many parents at once:
`CROSS JOIN LATERAL (… ORDER BY … LIMIT n)` over `unnest` of one array parameter on
PostgreSQL, a join on `key IN (correlated subquery … LIMIT n)` over `json_each` of one
JSON parameter on SQLite; both walk the (parent, sort key) index for page + 1 rows of
each parent. Rows carry `page_parent` and the cursor keys
(`cursor_k0`, …) after the selected columns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Select, String, Table, column, func, literal, select, true, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.util import ClauseAdapter

from app.storage.tables import customers, entries, grants


@dataclass(frozen=True)
class Order:
    """A list's sort keys (the last unique), the cursor value types and the direction."""

    keys: tuple[ColumnElement[Any], ...]
    kinds: tuple[type, ...]
    descending: bool = False


@dataclass(frozen=True)
class Bounds:
    size: int
    backward: bool
    after: tuple[Any, ...] | None
    before: tuple[Any, ...] | None


CUSTOMER_ORDER = Order((customers.c.id,), (str,))
LEDGER_ORDER = Order((entries.c.booked_at, entries.c.position), (datetime, int), descending=True)
GRANT_ORDER = Order((grants.c.created_at, grants.c.id), (datetime, str))  # the default


def page_select(
    table: Table,
    names: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    bounds: Bounds,
) -> Select[Any]:
    statement = select(*[table.c[n] for n in names], *_keys(order.keys)).where(*conditions)
    statement = _bounded(statement, order.keys, bounds, order.descending)
    return statement.order_by(*_sorted(order.keys, order, bounds)).limit(bounds.size + 1)


def pages_select(
    table: Table,
    names: Sequence[str],
    parent: Column[Any],
    parent_ids: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    bounds: Bounds,
    dialect: str,
) -> Select[Any]:
    if dialect == "postgresql":
        return _lateral(table, names, parent, parent_ids, conditions, order, bounds)
    return _correlated(table, names, parent, parent_ids, conditions, order, bounds)


def rows_select(table: Table, names: Sequence[str], conditions: Sequence[Any]) -> Select[Any]:
    return select(*[table.c[n] for n in names]).where(*conditions)


def by_ids_select(
    table: Table, names: Sequence[str], ids: Sequence[str], conditions: Sequence[Any]
) -> Select[Any]:
    key = table.primary_key.columns.values()[0]
    return rows_select(table, names, [key.in_(list(ids)), *conditions])


def _lateral(
    table: Table,
    names: Sequence[str],
    parent: Column[Any],
    parent_ids: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    bounds: Bounds,
) -> Select[Any]:
    ids = literal(list(parent_ids), ARRAY(String()))
    parents = func.unnest(ids).table_valued(column("id", String())).render_derived("page_parents")
    inner = select(*[table.c[n] for n in names], *_keys(order.keys))
    inner = inner.where(parent == parents.c.id, *conditions)
    rows = (
        _bounded(inner, order.keys, bounds, order.descending)
        .order_by(*_sorted(order.keys, order, bounds))
        .limit(bounds.size + 1)
        .lateral("page_row")
    )
    keys = [rows.c[f"cursor_k{i}"] for i in range(len(order.keys))]
    return (
        select(*[rows.c[n] for n in names], *keys, parents.c.id.label("page_parent"))
        .select_from(parents)
        .join(rows, true())
        .order_by(parents.c.id, *_sorted(keys, order, bounds))
    )


def _correlated(
    table: Table,
    names: Sequence[str],
    parent: Column[Any],
    parent_ids: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    bounds: Bounds,
) -> Select[Any]:
    ids = literal(json.dumps(list(parent_ids)), String())
    parents = func.json_each(ids).table_valued("value").alias("page_parents")
    unique = table.primary_key.columns.values()[0]
    first = (
        _bounded(
            select(unique).where(parent == parents.c.value, *conditions),
            order.keys,
            bounds,
            order.descending,
        )
        .order_by(*_sorted(order.keys, order, bounds))
        .limit(bounds.size + 1)
        .correlate(parents)
    )
    row = table.alias("page_row")
    keys = [ClauseAdapter(row).traverse(key) for key in order.keys]
    return (
        select(*[row.c[n] for n in names], *_keys(keys), parents.c.value.label("page_parent"))
        .select_from(parents)
        .join(row, row.c[unique.name].in_(first))
        .order_by(parents.c.value, *_sorted(keys, order, bounds))
    )


def _keys(keys: Sequence[ColumnElement[Any]]) -> list[ColumnElement[Any]]:
    return [key.label(f"cursor_k{i}") for i, key in enumerate(keys)]


def _sorted(keys: Sequence[Any], order: Order, bounds: Bounds) -> list[ColumnElement[Any]]:
    descending = order.descending != bounds.backward
    return [key.desc() if descending else key.asc() for key in keys]


def _bounded(
    statement: Select[Any],
    keys: Sequence[ColumnElement[Any]],
    bounds: Bounds,
    descending: bool,
) -> Select[Any]:
    row = tuple_(*keys)
    for values, is_after in ((bounds.after, True), (bounds.before, False)):
        if values is None:
            continue
        bound = tuple_(*[literal(v, type_=k.type) for v, k in zip(values, keys, strict=True)])
        statement = statement.where(row < bound if is_after == descending else row > bound)
    return statement
