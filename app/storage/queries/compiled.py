"""The compiled read path's SQL: one statement per level, only the columns it selects.

Lists come in their default orders (the loaders' own), unfiltered. A statement is built
once per `Shape` (table, columns, order, which bounds, scope) and run with parameters:
`:n` rows, `:ids` the parents, `:after_i`/`:before_i` the bounds' sort keys, `:scope`
the portal token's customer. `page_statement` pages one list (the root's customers);
`pages_statement` pages the children of many parents at once: `CROSS JOIN LATERAL (…
ORDER BY … LIMIT n)` over `unnest` of one array on PostgreSQL, a join on `key IN
(correlated subquery … LIMIT n)` over `json_each` of one JSON text on SQLite; both walk
the (parent, sort key) index for page + 1 rows of each parent. Rows carry the selected
columns, then the sort keys (`cursor_k0`, …) when the shape asks for cursors, then
`page_parent`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    Table,
    bindparam,
    column,
    func,
    select,
    true,
    tuple_,
)
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


ORDERS = {
    "customer": Order((customers.c.id,), (str,)),
    "ledger": Order((entries.c.booked_at, entries.c.position), (datetime, int), descending=True),
    "grant": Order((grants.c.created_at, grants.c.id), (datetime, str)),
}
TABLES = {table.name: table for table in (customers, grants, entries)}


@dataclass(frozen=True)
class Shape:
    """What a statement's text depends on (its parameters aside)."""

    table: str
    names: tuple[str, ...]
    order: str
    backward: bool = False
    after: bool = False
    before: bool = False
    cursors: bool = False
    scope: str | None = None  # the column compared with :scope


def shape_of(
    table: str, names: tuple[str, ...], order: str, bounds: Bounds, cursors: bool, scope: str | None
) -> Shape:
    after, before = bounds.after is not None, bounds.before is not None
    return Shape(table, names, order, bounds.backward, after, before, cursors, scope)


def parameters(bounds: Bounds, scope: str | None, **more: Any) -> dict[str, Any]:
    found = {"n": bounds.size + 1, "scope": scope, **more}
    for name, keys in (("after", bounds.after), ("before", bounds.before)):
        found |= {f"{name}_{i}": key for i, key in enumerate(keys or ())}
    return found


def ids_parameter(ids: Sequence[str], dialect: str) -> Any:
    return list(ids) if dialect == "postgresql" else json.dumps(list(ids))


@lru_cache(maxsize=256)
def page_statement(shape: Shape) -> Select[Any]:
    table, order = TABLES[shape.table], ORDERS[shape.order]
    keys = _labelled(order.keys) if shape.cursors else []
    statement = select(*[table.c[n] for n in shape.names], *keys)
    statement = _bounded(statement.where(*_scoped(table, shape.scope)), order.keys, shape, order)
    return statement.order_by(*_sorted(order.keys, order, shape)).limit(_limit())


@lru_cache(maxsize=256)
def pages_statement(shape: Shape, parent: str, dialect: str) -> Select[Any]:
    if dialect == "postgresql":
        return _lateral(shape, parent)
    return _correlated(shape, parent)


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


def _lateral(shape: Shape, parent: str) -> Select[Any]:
    table, order = TABLES[shape.table], ORDERS[shape.order]
    ids = bindparam("ids", type_=ARRAY(String()))
    parents = func.unnest(ids).table_valued(column("id", String())).render_derived("page_parents")
    inner = select(*[table.c[n] for n in shape.names], *_labelled(order.keys))
    inner = inner.where(table.c[parent] == parents.c.id, *_scoped(table, shape.scope))
    rows = (
        _bounded(inner, order.keys, shape, order)
        .order_by(*_sorted(order.keys, order, shape))
        .limit(_limit())
        .lateral("page_row")
    )
    keys = [rows.c[f"cursor_k{i}"] for i in range(len(order.keys))]
    return (
        select(
            *[rows.c[n] for n in shape.names],
            *(keys if shape.cursors else []),
            parents.c.id.label("page_parent"),
        )
        .select_from(parents)
        .join(rows, true())
        .order_by(parents.c.id, *_sorted(keys, order, shape))
    )


def _correlated(shape: Shape, parent: str) -> Select[Any]:
    table, order = TABLES[shape.table], ORDERS[shape.order]
    parents = func.json_each(bindparam("ids", type_=String())).table_valued("value")
    parents = parents.alias("page_parents")
    unique = table.primary_key.columns.values()[0]
    first = select(unique).where(table.c[parent] == parents.c.value, *_scoped(table, shape.scope))
    first = (
        _bounded(first, order.keys, shape, order)
        .order_by(*_sorted(order.keys, order, shape))
        .limit(_limit())
        .correlate(parents)
    )
    row = table.alias("page_row")
    keys = [ClauseAdapter(row).traverse(key) for key in order.keys]
    return (
        select(
            *[row.c[n] for n in shape.names],
            *(_labelled(keys) if shape.cursors else []),
            parents.c.value.label("page_parent"),
        )
        .select_from(parents)
        .join(row, row.c[unique.name].in_(first))
        .order_by(parents.c.value, *_sorted(keys, order, shape))
    )


def _limit() -> Any:
    return bindparam("n", type_=Integer())


def _scoped(table: Table, scope: str | None) -> list[ColumnElement[bool]]:
    """`scope` names the column a portal token's customer must match (None: no scope)."""
    if scope is None:
        return []
    return [table.c[scope] == bindparam("scope", type_=String())]


def _labelled(keys: Sequence[ColumnElement[Any]]) -> list[ColumnElement[Any]]:
    return [key.label(f"cursor_k{i}") for i, key in enumerate(keys)]


def _sorted(keys: Sequence[Any], order: Order, shape: Shape) -> list[ColumnElement[Any]]:
    descending = order.descending != shape.backward
    return [key.desc() if descending else key.asc() for key in keys]


def _bounded(
    statement: Select[Any], keys: Sequence[ColumnElement[Any]], shape: Shape, order: Order
) -> Select[Any]:
    row = tuple_(*keys)
    for name, present in (("after", shape.after), ("before", shape.before)):
        if not present:
            continue
        bound = tuple_(*[bindparam(f"{name}_{i}", type_=k.type) for i, k in enumerate(keys)])
        is_after = name == "after"
        statement = statement.where(row < bound if is_after == order.descending else row > bound)
    return statement
