"""The relations the native lane answers: each one statement for every parent of a level.

Each fetch mirrors its loader (app.api.loaders) in what it reads and in what it books
first: the due events of the customers it concerns (catch-up, app.api.catch_up), the same
argument checks (which raise, so the resolvers' lane then words the error) and the
portal token's scope. It returns one value per parent: a `Paged` cut for a connection,
a list, or one object (None when there is none). Lists are answered unfiltered in their
default order: a source names the arguments it does not answer, and `Run` raises
`Filtered` before any statement when one is given (the resolvers' lane answers).
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
from app.storage.queries.compiled import (
    ORDERS,
    Shape,
    by_ids_statement,
    count_statement,
    match_statement,
    page_statement,
    pages_statement,
)
from app.storage.queries.pages import Page, parameters, slice_rows

if TYPE_CHECKING:
    from app.api.compiled.native import Run

# (run, parents, arguments, whether a cursor is selected) -> one value per parent
Fetch = Callable[["Run", list[Any], dict[str, Any], bool], Awaitable[list[Any]]]
Count = Callable[["Run", list[Any]], Awaitable[list[int]]]


@dataclass(frozen=True)
class Source:
    child: str  # the type of what it returns: a row type's name, or "CreditBalance"
    shape: str  # "connection", "list" or "one"
    fetch: Fetch
    unsupported: tuple[str, ...] = ()  # arguments the lane does not answer (when given)
    order: str | None = None  # a connection's order (its paging arguments are checked)
    count: Count | None = None  # a connection's totalCount, after its fetch
    column: str | None = None  # the parent row's column naming the one object


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
    total: int | None = None  # the list's totalCount, when selected

    def cursor(self, row: Any) -> str:
        return encode_cursor(list(row[self.keys]))


def paged(rows: list[Any], page: Page, keys: slice) -> Paged:
    cut = slice_rows(rows, page)
    return Paged(cut.rows, cut.has_next, cut.has_previous, keys)


def unfiltered(kw: dict[str, Any], *names: str) -> None:
    if any(kw.get(name) is not None for name in names):
        raise Filtered


async def customers_page(
    run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
) -> list[Any]:
    page = run.page(ORDERS["customer"], kw)
    names = run.columns["Customer"]
    shape = Shape("customer", names, "customer", page.bounds, cursors, run.scope_on("id"))
    rows = await run.rows(page_statement(shape), parameters(page, scope=run.scope))
    cut = paged(rows, page, _keys(names, "customer"))
    return [cut for _ in parents]


async def customer_one(
    run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
) -> list[Any]:
    id, key = kw.get("id"), kw.get("key")
    if (id is None) == (key is None):
        raise bad_input("Give exactly one of id and key")
    if id is not None and kind_of(id) is None:
        raise bad_input(f"{id!r} is not a valid ID")
    names = run.columns["Customer"]
    match = "id" if key is None else "key"
    statement = match_statement("customer", names, match, run.scope_on("id"))
    rows = await run.rows(statement, {"match": key or id, "scope": run.scope})
    return [rows[0] if rows else None for _ in parents]


async def balances(
    run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
) -> list[Any]:
    found = await _balances(run, parents, kw)
    return [found[id] for id in run.ids("Customer", parents)]


async def balance(
    run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
) -> list[Any]:
    currency = kw["currency"]
    async with run.snapshot.turn() as connection:  # see Run.scales
        known = await run.loaders.runtime.catalog.get(currency, connection)
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
    ids = list(dict.fromkeys(run.ids("Customer", parents)))
    await run.loaders.catch_up.customers(ids)
    async with run.snapshot.turn() as connection:
        batch = await read_balances(connection, ids, instant, feature_key)
    scales = await run.scales({b.currency for b in batch.values()})
    found: dict[str, list[Any]] = defaultdict(list)
    for b in batch.values():
        found[b.customer_id].append(CreditBalance.from_balance(b, scales[b.currency]))
    return found


async def grant_pages(
    run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
) -> list[Any]:
    each = run.ids("Customer", parents)
    await run.loaders.catch_up.customers(list(dict.fromkeys(each)))
    return await _pages(run, "CreditGrant", "customer_id", each, "grant", kw, cursors)


async def customer_ledger(
    run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
) -> list[Any]:
    each = run.ids("Customer", parents)
    # an unfiltered ledger may hold booked events
    await run.loaders.catch_up.customers(list(dict.fromkeys(each)))
    return await _pages(run, "CreditLedgerEntry", "customer_id", each, "ledger", kw, cursors)


async def grant_ledger(
    run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
) -> list[Any]:
    each = run.ids("CreditGrant", parents)
    owners = dict(zip(each, run.ids("CreditGrant", parents, "customer_id"), strict=True))
    await run.loaders.catch_up.grants(list(owners), owners)
    return await _pages(run, "CreditLedgerEntry", "grant_id", each, "ledger", kw, cursors)


async def _pages(
    run: Run,
    kind: str,
    parent: str,
    each: list[str],
    order: str,
    kw: dict[str, Any],
    cursors: bool,
) -> list[Any]:
    """Each parent's page of its children, whose `parent` column names it (`each` the
    parents' ids, in the level's order)."""
    page = run.page(ORDERS[order], kw)
    names = run.columns[kind]
    table = run.tables[kind].name
    shape = Shape(table, names, order, page.bounds, cursors, run.scope_on("customer_id"))
    statement = pages_statement(shape, parent, run.dialect)
    found = parameters(page, list(dict.fromkeys(each)), run.dialect, scope=run.scope)
    by_parent: dict[str, list[Any]] = defaultdict(list)
    for row in await run.rows(statement, found):
        by_parent[row[-1]].append(row)  # page_parent, the last column
    keys = _keys(names, order)
    return [paged(by_parent.get(id, []), page, keys) for id in each]


def _keys(names: tuple[str, ...], order: str) -> slice:
    return slice(len(names), len(names) + len(ORDERS[order].keys))


def by_id(parent: str, attribute: str, kind: str, catch_up: bool) -> Source:
    """The object a parent's `attribute` names: known to this request already, or read."""

    async def fetch(
        run: Run, parents: list[Any], kw: dict[str, Any], cursors: bool = False
    ) -> list[Any]:
        known = run.known[kind]
        index = run.positions[parent][attribute]
        ids = [p[index] for p in parents]
        missing = list(dict.fromkeys(i for i in ids if i not in known))
        if missing:
            if catch_up:
                await run.loaders.catch_up.grants(missing, {})
            scope = run.scope_on("id" if kind == "Customer" else "customer_id")
            statement = by_ids_statement(run.tables[kind].name, run.columns[kind], scope)
            rows = await run.rows(statement, {"ids": missing, "scope": run.scope})
            known.update((row.id, row) for row in rows)
        return [known[i] for i in ids]  # a KeyError where normal execution asserts

    return Source(kind, "one", fetch, column=attribute)


def counter(table: str, parent: str | None, scope: str | None) -> Count:
    """totalCount of a connection, per parent (`parent` the column naming it). Run after
    the connection's fetch, which booked the due events of the same parents first (as the
    loaders count after catch-up); `scope` the column a portal token's customer matches."""

    async def count(run: Run, parents: list[Any]) -> list[int]:
        statement = count_statement(table, parent, run.scope_on(scope) if scope else None)
        if parent is None:
            [(total,)] = await run.rows(statement, {"scope": run.scope})
            return [int(total) for _ in parents]
        ids = list(dict.fromkeys(p.id for p in parents))
        rows = await run.rows(statement, {"ids": ids, "scope": run.scope})
        found = {row[0]: int(row[1]) for row in rows}
        return [found.get(p.id, 0) for p in parents]

    return count


SOURCES = {
    ("Query", "customers"): Source(
        "Customer",
        "connection",
        customers_page,
        ("filter",),
        "customer",
        counter("customer", None, "id"),
    ),
    ("Query", "customer"): Source("Customer", "one", customer_one),
    ("Customer", "creditBalances"): Source("CreditBalance", "list", balances),
    ("Customer", "creditBalance"): Source("CreditBalance", "one", balance),
    ("Customer", "creditGrants"): Source(
        "CreditGrant",
        "connection",
        grant_pages,
        ("filter", "order_by"),
        "grant",
        counter("credit_grant", "customer_id", None),
    ),
    ("Customer", "creditLedger"): Source(
        "CreditLedgerEntry",
        "connection",
        customer_ledger,
        ("filter",),
        "ledger",
        counter("ledger_entry", "customer_id", "customer_id"),
    ),
    ("CreditGrant", "ledgerEntries"): Source(
        "CreditLedgerEntry",
        "connection",
        grant_ledger,
        (),
        "ledger",
        counter("ledger_entry", "grant_id", "customer_id"),
    ),
    ("CreditGrant", "customer"): by_id("CreditGrant", "customer_id", "Customer", False),
    ("CreditLedgerEntry", "grant"): by_id("CreditLedgerEntry", "grant_id", "CreditGrant", True),
    ("CreditLedgerEntry", "customer"): by_id("CreditLedgerEntry", "customer_id", "Customer", False),
}
