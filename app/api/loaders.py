"""Per-request DataLoaders: one statement per relation level, whatever the page sizes.

Each batch opens its own short connection (one AsyncSession/connection must never be
shared by sibling resolvers running concurrently). Loaders live for one request only,
so nothing they cache outlives the instant the request describes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, func, select

from app.api.balances import CreditBalance, CreditExpiration
from app.api.batching import BatchLoader
from app.api.catch_up import CatchUp, books_time_driven
from app.api.common import PageInfo, label_pairs
from app.api.customers import Customer, CustomerConnection, CustomerEdge, CustomerFilter
from app.api.errors import bad_input, checked_instant
from app.api.grants import CreditGrant, CreditGrantConnection, CreditGrantEdge, GrantQuery
from app.api.ledger import (
    CreditConsumption,
    CreditLedgerEntry,
    CreditLedgerEntryConnection,
    CreditLedgerEntryEdge,
    LedgerQuery,
)
from app.api.pagination import (
    Ordering,
    Page,
    cursor_of,
    keyset_select,
    page_of,
    per_parent_select,
    slice_rows,
)
from app.domain.balances import Balance
from app.domain.ids import kind_of
from app.domain.time import Duration, add_duration
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.balances import empty_balance, read_balance, read_balances
from app.storage.engine import read_connection
from app.storage.reads import (
    customer_conditions,
    expires_or_never,
    grant_conditions,
    ledger_conditions,
)
from app.storage.tables import consumptions, customers, entries, grants

if TYPE_CHECKING:
    from app.api.grants import CreditGrantFilter, CreditGrantOrder
    from app.api.ledger import CreditLedgerFilter

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CUSTOMER_ORDER = Ordering((customers.c.id,), (str,))
LEDGER_ORDER = Ordering((entries.c.booked_at, entries.c.position), (datetime, int), descending=True)
GRANT_ORDERS = {
    "CREATED_AT": ((grants.c.created_at, grants.c.id), (datetime, str)),
    "EFFECTIVE_AT": ((grants.c.effective_at, grants.c.id), (datetime, str)),
    "EXPIRES_AT": ((expires_or_never, grants.c.id), (datetime, str)),
    "PRIORITY": ((grants.c.priority, grants.c.id), (int, str)),
    "BURN_ORDER": ((grants.c.burn_key,), (str,)),
}


LEDGER_PARENTS = {"grant": entries.c.grant_id, "customer": entries.c.customer_id}
LEDGER_KINDS = ("grant", "customer", "all")


def grant_ordering(query: GrantQuery) -> Ordering:
    keys, kinds = GRANT_ORDERS[query.order]
    return Ordering(keys, kinds, query.descending)


@dataclass(frozen=True)
class CustomerQuery:
    key: str | None = None
    name_contains: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def of(cls, filter: CustomerFilter | None) -> CustomerQuery:
        if filter is None:
            return cls()
        return cls(filter.key, filter.name_contains, label_pairs(filter.labels))

    def conditions(self) -> list[Any]:
        return customer_conditions(self.key, self.name_contains, self.labels)


@dataclass(frozen=True)
class CountKey:
    kind: str
    parent: str | None
    query: Hashable


class Loaders:
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.now = now
        self.scope = scope  # a portal token's customer: every read answers as if only it existed
        self.catch_up = CatchUp(runtime, now, scope)
        self._customers = _loader(self._load_customers)
        self._grants = _loader(self._load_grants)
        self._consumptions = _loader(self._load_consumptions)
        self._entries = _loader(self._load_entries)
        self._balances = _loader(self._load_balances)
        self._grant_pages = _loader(self._load_grant_pages)
        self._ledger_pages = _loader(self._load_ledger_pages)
        self._consumption_entries = _loader(self._load_consumption_entries)
        self._counts = _loader(self._load_counts)
        self._expirations = _loader(self._load_expirations)
        self.known_customers: dict[str, Customer] = {}
        self.known_grants: dict[str, CreditGrant] = {}

    # ---- what resolvers call

    def customer_soon(self, customer_id: str) -> Any:
        """The customer itself if this request loaded it already, else an awaitable of it."""
        return self.known_customers.get(customer_id) or self.customer(customer_id)

    def grant_soon(self, grant_id: str) -> Any:
        """The grant itself if this request loaded it already, else an awaitable of it."""
        return self.known_grants.get(grant_id) or self.grant(grant_id)

    async def customer(self, customer_id: str) -> Customer:
        found = await self._customers.load(customer_id)
        assert found is not None
        return found

    async def maybe_customer(self, customer_id: str) -> Customer | None:
        return await self._customers.load(customer_id)

    async def customer_by_key(self, key: str) -> Customer | None:
        rows = await self._rows(
            select(customers).where(customers.c.key == key, *self.scoped(customers.c.id))
        )
        return self.customer_of(rows[0]) if rows else None

    async def customers_page(
        self,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        filter: CustomerFilter | None,
    ) -> CustomerConnection:
        query = CustomerQuery.of(filter)
        page = self.page(CUSTOMER_ORDER, first, after, last, before)
        statement = select(customers).where(*query.conditions(), *self.scoped(customers.c.id))
        rows = await self._rows(keyset_select(statement, CUSTOMER_ORDER, page))
        cut = slice_rows(rows, page)
        edges = [
            CustomerEdge(cursor=cursor_of(row, CUSTOMER_ORDER), node=self.customer_of(row))
            for row in cut.rows
        ]
        info = PageInfo.from_cursors([edge.cursor for edge in edges], cut)
        count = CountKey("customers", None, query)
        return CustomerConnection(edges=edges, page_info=info, count_key=count)

    async def grant(self, grant_id: str) -> CreditGrant:
        found = await self._grants.load(grant_id)
        assert found is not None
        return found

    async def maybe_grant(self, grant_id: str) -> CreditGrant | None:
        return await self._grants.load(grant_id)

    async def consumption(self, consumption_id: str) -> CreditConsumption | None:
        return await self._consumptions.load(consumption_id)

    async def entry(self, entry_id: str) -> CreditLedgerEntry | None:
        return await self._entries.load(entry_id)

    async def consumption_entries(self, consumption_id: str) -> list[CreditLedgerEntry]:
        return await self._consumption_entries.load(consumption_id)

    async def balances(
        self, customer_id: str, at: datetime | None, feature_key: str | None
    ) -> list[CreditBalance]:
        return await self._balances.load((customer_id, self.instant(at), feature_key))

    async def balance(
        self, customer_id: str, currency: str, at: datetime | None, feature_key: str | None
    ) -> CreditBalance:
        known = await self.runtime.catalog.get(currency)
        if known is None:
            raise bad_input(f"{currency!r} is not a known currency")
        instant = self.instant(at)
        for balance in await self._balances.load((customer_id, instant, feature_key)):
            if balance.currency == currency:
                return balance
        zero = empty_balance(customer_id, currency, instant, feature_key)
        return CreditBalance.from_balance(zero, known.scale)

    async def balance_after(
        self, customer_id: str, currency: str, at: datetime, sequence: int | None
    ) -> CreditBalance:
        """The balance as of one committed change (its instant and its last sequence)."""
        async with read_connection(self.runtime.engine) as connection:
            balance = await read_balance(connection, customer_id, currency, at, sequence)
        scales = await self.scales([currency])
        return CreditBalance.from_balance(balance, scales[currency])

    def instant(self, at: datetime | None) -> datetime:
        if at is None:
            return self.now
        instant = checked_instant(at, "at")
        if instant > self.now:
            raise bad_input("at must not be in the future")
        return instant

    async def customer_grants(
        self,
        customer_id: str,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        filter: CreditGrantFilter | None,
        order: CreditGrantOrder | None,
    ) -> CreditGrantConnection:
        query = GrantQuery.of(filter, order)
        page = self.page(grant_ordering(query), first, after, last, before)
        return await self._grant_pages.load((customer_id, query, page))

    async def customer_ledger(
        self,
        customer_id: str | None,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        filter: CreditLedgerFilter | None,
    ) -> CreditLedgerEntryConnection:
        query = LedgerQuery.of(filter)
        if query.grant_id is not None and kind_of(query.grant_id) is None:
            raise bad_input(f"{query.grant_id!r} is not a valid ID")
        page = self.page(LEDGER_ORDER, first, after, last, before)
        kind = "all" if customer_id is None else "customer"
        return await self._ledger_pages.load((kind, customer_id, query, page))

    async def grant_entries(
        self,
        grant_id: str,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> CreditLedgerEntryConnection:
        page = self.page(LEDGER_ORDER, first, after, last, before)
        return await self._ledger_pages.load(("grant", grant_id, LedgerQuery(), page))

    async def expirations(
        self, customer_id: str, within: Duration, currency: str | None
    ) -> list[CreditExpiration]:
        try:
            until = add_duration(self.now, within)
        except (OverflowError, ValueError) as error:
            raise bad_input("within is out of range") from error
        return await self._expirations.load((customer_id, until, currency))

    async def count(self, key: CountKey) -> int:
        return await self._counts.load(key)

    def page(
        self,
        ordering: Ordering,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> Page:
        return page_of(
            ordering,
            first,
            after,
            last,
            before,
            default=self.settings.default_page_size,
            maximum=self.settings.max_page_size,
        )

    def customer_of(self, row: Any) -> Customer:
        customer = self.known_customers[row.id] = Customer.from_row(row)
        return customer

    def scoped(self, customer_column: Any) -> list[Any]:
        """The condition that keeps a portal token's reads to its one customer."""
        return [] if self.scope is None else [customer_column == self.scope]

    async def scales(self, codes: Iterable[str]) -> dict[str, int]:
        found = await self.runtime.catalog.get_many(set(codes))
        return {code: currency.scale for code, currency in found.items()}

    # ---- batches

    @property
    def dialect(self) -> str:
        return self.runtime.engine.dialect.name

    async def _rows(self, statement: Select[Any]) -> list[Any]:
        async with read_connection(self.runtime.engine) as connection:
            return list(await connection.execute(statement))

    async def _load_customers(self, ids: list[str]) -> list[Customer | None]:
        rows = await self._rows(
            select(customers).where(customers.c.id.in_(ids), *self.scoped(customers.c.id))
        )
        found = {row.id: self.customer_of(row) for row in rows}
        return [found.get(i) for i in ids]

    async def _load_grants(self, ids: list[str]) -> list[CreditGrant | None]:
        await self._caught_up_grants(ids)
        rows = await self._rows(
            select(grants).where(grants.c.id.in_(ids), *self.scoped(grants.c.customer_id))
        )
        found = await self._grant_objects(rows)
        return [found.get(i) for i in ids]

    async def _grant_objects(self, rows: Sequence[Any]) -> dict[str, CreditGrant]:
        scales = await self.scales(
            {r.currency for r in rows} | {r.purchase_currency for r in rows if r.purchase_currency}
        )
        made = {row.id: CreditGrant.from_row(row, scales, self.now) for row in rows}
        self.known_grants.update(made)
        return made

    async def _load_consumptions(self, ids: list[str]) -> list[CreditConsumption | None]:
        rows = await self._rows(
            select(consumptions).where(
                consumptions.c.id.in_(ids), *self.scoped(consumptions.c.customer_id)
            )
        )
        scales = await self.scales(r.currency for r in rows)
        found = {row.id: CreditConsumption.from_row(row, scales) for row in rows}
        return [found.get(i) for i in ids]

    async def _load_entries(self, ids: list[str]) -> list[CreditLedgerEntry | None]:
        rows = await self._rows(
            select(entries).where(entries.c.id.in_(ids), *self.scoped(entries.c.customer_id))
        )
        found = {str(e.id): e for e in await self.entry_objects(rows)}
        return [found.get(i) for i in ids]

    async def entry_objects(self, rows: Sequence[Any]) -> list[CreditLedgerEntry]:
        scales = await self.scales(r.currency for r in rows)
        return [CreditLedgerEntry.from_row(row, scales) for row in rows]

    async def _load_consumption_entries(self, ids: list[str]) -> list[list[CreditLedgerEntry]]:
        statement = (
            select(entries)
            .where(entries.c.consumption_id.in_(ids), entries.c.type == "CONSUMED")
            .order_by(entries.c.sequence)
        )
        rows = await self._rows(statement)
        by_consumption: dict[str, list[CreditLedgerEntry]] = defaultdict(list)
        for row, entry in zip(rows, await self.entry_objects(rows), strict=True):
            by_consumption[row.consumption_id].append(entry)
        return [by_consumption[i] for i in ids]

    async def _load_balances(
        self, keys: list[tuple[str, datetime, str | None]]
    ) -> list[list[CreditBalance]]:
        await self.catch_up.customers(k[0] for k in keys)
        found: list[Balance] = []
        for (at, feature_key), group in _group(keys, lambda k: (k[1], k[2])).items():
            async with read_connection(self.runtime.engine) as connection:
                batch = await read_balances(connection, [k[0] for k in group], at, feature_key)
            found.extend(batch.values())
        scales = await self.scales({b.currency for b in found})
        results: dict[tuple[str, datetime, str | None], list[CreditBalance]] = defaultdict(list)
        for balance in found:
            key = (balance.customer_id, balance.at, balance.feature_key)
            results[key].append(CreditBalance.from_balance(balance, scales[balance.currency]))
        return [results[key] for key in keys]

    async def _load_grant_pages(
        self, keys: list[tuple[str, GrantQuery, Page]]
    ) -> list[CreditGrantConnection]:
        await self.catch_up.customers(k[0] for k in keys)
        results: dict[tuple[str, GrantQuery, Page], CreditGrantConnection] = {}
        for (query, page), group in _group(keys, lambda k: (k[1], k[2])).items():
            ordering = grant_ordering(query)
            parent_ids = [k[0] for k in group]
            conditions = grant_conditions(query, self.now)
            statement = per_parent_select(
                grants,
                grants.c.customer_id,
                parent_ids,
                conditions,
                ordering,
                page,
                dialect=self.dialect,
            )
            rows = await self._rows(statement)
            objects = await self._grant_objects(rows)
            by_parent = _by_parent(rows)
            for parent in parent_ids:
                cut = slice_rows(by_parent[parent], page)
                edges = [
                    CreditGrantEdge(cursor=cursor_of(r, ordering), node=objects[r.id])
                    for r in cut.rows
                ]
                info = PageInfo.from_cursors([e.cursor for e in edges], cut)
                count = CountKey("grants", parent, query)
                results[(parent, query, page)] = CreditGrantConnection(
                    edges=edges, page_info=info, count_key=count
                )
        return [results[key] for key in keys]

    async def _load_ledger_pages(
        self, keys: list[tuple[str, str | None, LedgerQuery, Page]]
    ) -> list[CreditLedgerEntryConnection]:
        await self._caught_up_ledgers([(kind, parent, query) for kind, parent, query, _ in keys])
        results: dict[Any, CreditLedgerEntryConnection] = {}
        for (kind, query, page), group in _group(keys, lambda k: (k[0], k[2], k[3])).items():
            parent_ids = [k[1] for k in group]
            conditions = [*ledger_conditions(query), *self.scoped(entries.c.customer_id)]
            parent_column = LEDGER_PARENTS.get(kind)
            if parent_column is None:
                statement = select(entries).where(*conditions)
                rows = await self._rows(keyset_select(statement, LEDGER_ORDER, page))
                by_parent: dict[Any, list[Any]] = {None: rows}
            else:
                ids = [str(parent) for parent in parent_ids]
                statement = per_parent_select(
                    entries,
                    parent_column,
                    ids,
                    conditions,
                    LEDGER_ORDER,
                    page,
                    dialect=self.dialect,
                )
                rows = await self._rows(statement)
                by_parent = _by_parent(rows)
            objects = {e.id: e for e in await self.entry_objects(rows)}
            for parent in parent_ids:
                cut = slice_rows(by_parent.get(parent, []), page)
                edges = [
                    CreditLedgerEntryEdge(cursor=cursor_of(r, LEDGER_ORDER), node=objects[r.id])
                    for r in cut.rows
                ]
                info = PageInfo.from_cursors([e.cursor for e in edges], cut)
                count = CountKey(f"ledger:{kind}", parent, query)
                results[(kind, parent, query, page)] = CreditLedgerEntryConnection(
                    edges=edges, page_info=info, count_key=count
                )
        return [results[key] for key in keys]

    async def _load_expirations(
        self, keys: list[tuple[str, datetime, str | None]]
    ) -> list[list[CreditExpiration]]:
        await self.catch_up.customers(k[0] for k in keys)
        results: dict[tuple[str, datetime, str | None], list[CreditExpiration]] = defaultdict(list)
        for (until, currency), group in _group(keys, lambda k: (k[1], k[2])).items():
            statement = (
                select(grants)
                .where(
                    grants.c.customer_id.in_([k[0] for k in group]),
                    grants.c.voided_at.is_(None),
                    grants.c.funded_at.is_not(None),
                    grants.c.funded_at <= self.now,
                    grants.c.remaining > 0,
                    grants.c.expires_at > self.now,
                    grants.c.expires_at <= until,
                )
                .order_by(grants.c.expires_at, grants.c.burn_key)
            )
            if currency is not None:
                statement = statement.where(grants.c.currency == currency)
            rows = await self._rows(statement)
            objects = await self._grant_objects(rows)
            for row in rows:
                grant = objects[row.id]
                results[(row.customer_id, until, currency)].append(
                    CreditExpiration(
                        grant=grant,
                        currency=row.currency,
                        expires_at=row.expires_at,
                        amount=grant.remaining,
                    )
                )
        return [results[key] for key in keys]

    async def _load_counts(self, keys: list[CountKey]) -> list[int]:
        await self.catch_up.customers(str(k.parent) for k in keys if k.kind == "grants")
        ledgers = [(k.kind.removeprefix("ledger:"), k.parent, k.query) for k in keys]
        await self._caught_up_ledgers([key for key in ledgers if key[0] in LEDGER_KINDS])
        results: dict[CountKey, int] = {}
        for (kind, query), group in _group(keys, lambda k: (k.kind, k.query)).items():
            parents = [k.parent for k in group]
            statement, parent_column = self._count_statement(kind, query)
            if parent_column is None:
                total = (await self._rows(statement))[0][0]
                results |= {k: int(total) for k in group}
                continue
            grouped = statement.add_columns(parent_column).where(parent_column.in_(parents))
            rows = await self._rows(grouped.group_by(parent_column))
            counts = {row[1]: int(row[0]) for row in rows}
            results |= {k: counts.get(k.parent, 0) for k in group}
        return [results[key] for key in keys]

    # ---- catch-up: the due events of the customers a batch reads are booked first

    async def _caught_up_grants(self, grant_ids: list[str]) -> None:
        known = self.known_grants
        owners = {g: known[g].customer_id for g in grant_ids if g in known}
        await self.catch_up.grants(grant_ids, owners)

    async def _caught_up_ledgers(self, ledgers: list[tuple[str, str | None, Any]]) -> None:
        """(kind, parent, query) of ledger reads: a customer's, a grant's, or everyone's."""
        wanted = [(kind, parent, q) for kind, parent, q in ledgers if books_time_driven(q.types)]
        grant_ids = [str(p) for kind, p, _ in wanted if kind == "grant"]
        grant_ids += [q.grant_id for kind, _, q in wanted if kind == "all" and q.grant_id]
        await self.catch_up.customers(str(p) for kind, p, _ in wanted if kind == "customer")
        await self._caught_up_grants(grant_ids)
        if any(kind == "all" and q.grant_id is None for kind, _, q in wanted):
            await self.catch_up.everyone()

    def _count_statement(self, kind: str, query: Any) -> tuple[Select[Any], Any]:
        count = func.count()
        if kind == "grants":
            statement = select(count).select_from(grants).where(*grant_conditions(query, self.now))
            return statement, grants.c.customer_id
        if kind == "customers":
            scoped = self.scoped(customers.c.id)
            return select(count).select_from(customers).where(*query.conditions(), *scoped), None
        scoped = self.scoped(entries.c.customer_id)
        statement = select(count).select_from(entries).where(*ledger_conditions(query), *scoped)
        return statement, LEDGER_PARENTS.get(kind.removeprefix("ledger:"))


def _loader(load: Callable[[list[K]], Awaitable[list[V]]]) -> BatchLoader[K, V]:
    return BatchLoader(load)


def _group(keys: Iterable[K], by: Callable[[K], Hashable]) -> dict[Any, list[K]]:
    groups: dict[Any, list[K]] = defaultdict(list)
    for key in keys:
        if key not in groups[by(key)]:
            groups[by(key)].append(key)
    return groups


def _by_parent(rows: Sequence[Any]) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.page_parent].append(row)
    return grouped
