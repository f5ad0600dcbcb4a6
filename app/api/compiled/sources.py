"""The relations the native lane answers: each one statement for every parent of a level.

Each fetch mirrors its loader (app.api.loaders) in what it reads and in what it books
first: the due events of the customers it concerns (catch-up, DESIGN §5), the same
argument checks (which raise, so the resolvers' lane then words the error) and the
portal token's scope. It returns one value per parent: a `Paged` cut for a connection,
a list, or one object (None when there is none). Lists are answered unfiltered in their
default order; a filter or an order raises `Filtered` (the resolvers' lane answers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.api.balances import CreditBalance
from app.api.errors import bad_input
from app.api.pagination import encode_cursor
from app.domain.ids import kind_of
from app.storage.balances import empty_balance, read_balances
from app.storage.engine import read_connection
from app.storage.queries.compiled import (
    CUSTOMER_ORDER,
    GRANT_ORDER,
    LEDGER_ORDER,
    Bounds,
    Order,
    by_ids_select,
    page_select,
    pages_select,
    rows_select,
)
from app.storage.tables import customers, entries, grants

if TYPE_CHECKING:
    from app.api.compiled.native import Run

Fetch = Callable[["Run", list[Any], dict[str, Any]], Awaitable[list[Any]]]


@dataclass(frozen=True)
class Source:
    child: str  # the type of what it returns: a row type's name, or "CreditBalance"
    shape: str  # "connection", "list" or "one"
    fetch: Fetch


class Filtered(Exception):
    """A list with a filter or an order: the resolvers' lane answers it."""


@dataclass(frozen=True)
class Paged:
    """One parent's page in the list's order, whether more lie either way, and where
    each row's sort keys (its cursor) are."""

    rows: list[Any]
    has_next: bool
    has_previous: bool
    keys: slice

    def cursor(self, row: Any) -> str:
        return encode_cursor(list(row[self.keys]))


def paged(rows: list[Any], bounds: Bounds, keys: slice) -> Paged:
    """Trim the look-ahead row and restore the list's own order (as the loaders do)."""
    more = len(rows) > bounds.size
    kept = rows[: bounds.size]
    if bounds.backward:
        kept.reverse()
        return Paged(kept, bounds.before is not None, more, keys)
    return Paged(kept, more, bounds.after is not None, keys)


def unfiltered(kw: dict[str, Any], *names: str) -> None:
    if any(kw.get(name) is not None for name in names):
        raise Filtered


async def customers_page(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
    unfiltered(kw, "filter")
    conditions = run.scoped(customers.c.id)
    bounds = run.page(CUSTOMER_ORDER, kw)
    names = run.columns["Customer"]
    rows = await run.rows(page_select(customers, names, conditions, CUSTOMER_ORDER, bounds))
    page = paged(rows, bounds, _keys(names, CUSTOMER_ORDER))
    return [page for _ in parents]


async def customer_one(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
    id, key = kw.get("id"), kw.get("key")
    if (id is None) == (key is None):
        raise bad_input("Give exactly one of id and key")
    if id is not None and kind_of(id) is None:
        raise bad_input(f"{id!r} is not a valid ID")
    match = customers.c.id == id if key is None else customers.c.key == key
    names = run.columns["Customer"]
    rows = await run.rows(rows_select(customers, names, [match, *run.scoped(customers.c.id)]))
    return [rows[0] if rows else None for _ in parents]


async def balances(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
    found = await _balances(run, parents, kw)
    return [found[p.id] for p in parents]


async def balance(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
    currency = kw["currency"]
    known = await run.loaders.runtime.catalog.get(currency)
    if known is None:
        raise bad_input(f"{currency!r} is not a known currency")
    found = await _balances(run, parents, kw)
    instant, feature_key = run.loaders.instant(kw.get("at")), kw.get("feature_key")
    picked = []
    for parent in parents:
        mine = [b for b in found[parent.id] if b.currency == currency]
        zero = empty_balance(parent.id, currency, instant, feature_key)
        picked.append(mine[0] if mine else CreditBalance.from_balance(zero, known.scale))
    return picked


async def _balances(run: Run, parents: list[Any], kw: dict[str, Any]) -> dict[str, list[Any]]:
    instant, feature_key = run.loaders.instant(kw.get("at")), kw.get("feature_key")
    ids = list(dict.fromkeys(p.id for p in parents))
    await run.loaders.catch_up.customers(ids)
    async with read_connection(run.engine) as connection:
        batch = await read_balances(connection, ids, instant, feature_key)
    scales = await run.loaders.scales({b.currency for b in batch.values()})
    found: dict[str, list[Any]] = defaultdict(list)
    for b in batch.values():
        found[b.customer_id].append(CreditBalance.from_balance(b, scales[b.currency]))
    return found


async def grant_pages(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
    unfiltered(kw, "filter", "order_by")
    ids = list(dict.fromkeys(p.id for p in parents))
    await run.loaders.catch_up.customers(ids)
    column = grants.c.customer_id
    return await _pages(run, "CreditGrant", column, parents, ids, [], GRANT_ORDER, kw)


async def customer_ledger(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
    unfiltered(kw, "filter")
    ids = list(dict.fromkeys(p.id for p in parents))
    await run.loaders.catch_up.customers(ids)  # an unfiltered ledger may hold booked events
    conditions = run.scoped(entries.c.customer_id)
    column = entries.c.customer_id
    return await _pages(
        run, "CreditLedgerEntry", column, parents, ids, conditions, LEDGER_ORDER, kw
    )


async def grant_ledger(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
    owners = {p.id: p.customer_id for p in parents}
    ids = list(owners)
    await run.loaders.catch_up.grants(ids, owners)
    conditions = run.scoped(entries.c.customer_id)
    column = entries.c.grant_id
    return await _pages(
        run, "CreditLedgerEntry", column, parents, ids, conditions, LEDGER_ORDER, kw
    )


async def _pages(
    run: Run,
    kind: str,
    parent: Any,
    parents: list[Any],
    ids: list[str],
    conditions: list[Any],
    order: Order,
    kw: dict[str, Any],
) -> list[Any]:
    bounds = run.page(order, kw)
    names = run.columns[kind]
    table = run.tables[kind]
    statement = pages_select(table, names, parent, ids, conditions, order, bounds, run.dialect)
    by_parent: dict[str, list[Any]] = defaultdict(list)
    for row in await run.rows(statement):
        by_parent[row.page_parent].append(row)
    keys = _keys(names, order)
    return [paged(by_parent.get(p.id, []), bounds, keys) for p in parents]


def _keys(names: tuple[str, ...], order: Order) -> slice:
    return slice(len(names), len(names) + len(order.keys))


def by_id(kind: str, attribute: str, catch_up: bool) -> Fetch:
    """The object a parent's `attribute` names: known to this request already, or read."""

    async def fetch(run: Run, parents: list[Any], kw: dict[str, Any]) -> list[Any]:
        known = run.known[kind]
        ids = [getattr(p, attribute) for p in parents]
        missing = list(dict.fromkeys(i for i in ids if i not in known))
        if missing:
            table = run.tables[kind]
            if catch_up:
                await run.loaders.catch_up.grants(missing, {})
            scope = run.scoped(table.c.id if kind == "Customer" else table.c.customer_id)
            rows = await run.rows(by_ids_select(table, run.columns[kind], missing, scope))
            known.update((row.id, row) for row in rows)
        return [known[i] for i in ids]  # a KeyError where normal execution asserts

    return fetch


SOURCES = {
    ("Query", "customers"): Source("Customer", "connection", customers_page),
    ("Query", "customer"): Source("Customer", "one", customer_one),
    ("Customer", "creditBalances"): Source("CreditBalance", "list", balances),
    ("Customer", "creditBalance"): Source("CreditBalance", "one", balance),
    ("Customer", "creditGrants"): Source("CreditGrant", "connection", grant_pages),
    ("Customer", "creditLedger"): Source("CreditLedgerEntry", "connection", customer_ledger),
    ("CreditGrant", "ledgerEntries"): Source("CreditLedgerEntry", "connection", grant_ledger),
    ("CreditGrant", "customer"): Source("Customer", "one", by_id("Customer", "customer_id", False)),
    ("CreditLedgerEntry", "grant"): Source(
        "CreditGrant", "one", by_id("CreditGrant", "grant_id", True)
    ),
    ("CreditLedgerEntry", "customer"): Source(
        "Customer", "one", by_id("Customer", "customer_id", False)
    ),
}
