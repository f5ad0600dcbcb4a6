"""Per-request DataLoaders: one statement per relation level, whatever the page sizes.

The SQL is the storage layer's (`app.storage.queries`); here keys are batched, the due
events of the customers a batch reads are booked first (`CatchUp`), and rows become API
objects. Each batch reads in a short transaction of its own (one connection must never
be shared by sibling resolvers running concurrently). Loaders live for one request only,
so nothing they cache outlives the instant the request describes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.balances import CreditBalance, CreditExpiration
from app.api.batching import group, loader
from app.api.catch_up import CatchUp, books_time_driven
from app.api.customers import Customer, CustomerConnection, customer_query
from app.api.errors import bad_input, checked_instant
from app.api.grants import CreditGrant, CreditGrantConnection, grant_query
from app.api.ledger import (
    CreditConsumption,
    CreditLedgerEntry,
    CreditLedgerEntryConnection,
    CreditLedgerHead,
    ledger_query,
)
from app.api.pagination import connection_of, page_of
from app.domain.balances import Balance
from app.domain.hashing import GENESIS
from app.domain.ids import kind_of
from app.domain.time import Duration, add_duration
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.balances import empty_balance, read_balance, read_balances
from app.storage.engine import read_connection
from app.storage.queries import customers, grants, ledger
from app.storage.queries.grants import GrantQuery
from app.storage.queries.ledger import LedgerQuery
from app.storage.queries.pages import Ordering, Page

if TYPE_CHECKING:
    from app.api.customers import CustomerFilter
    from app.api.grants import CreditGrantFilter, CreditGrantOrder
    from app.api.ledger import CreditLedgerFilter

LEDGER_KINDS = ("grant", "customer", "all")
GrantPage = tuple[str, GrantQuery, Page]
LedgerPage = tuple[str, str | None, LedgerQuery, Page]  # kind, parent, filter, page
Until = tuple[str, datetime, str | None]  # customer, instant, currency or feature


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
        self._customers = loader(self._load_customers)
        self._grants = loader(self._load_grants)
        self._consumptions = loader(self._load_consumptions)
        self._entries = loader(self._load_entries)
        self._balances = loader(self._load_balances)
        self._grant_pages = loader(self._load_grant_pages)
        self._ledger_pages = loader(self._load_ledger_pages)
        self._consumption_entries = loader(self._load_consumption_entries)
        self._counts = loader(self._load_counts)
        self._expirations = loader(self._load_expirations)
        self._heads = loader(self._load_heads)
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
        async with self.read() as connection:
            row = await customers.by_key(connection, key, self.scope)
        return None if row is None else self.customer_of(row)

    async def customers_page(
        self,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        filter: CustomerFilter | None,
    ) -> CustomerConnection:
        query = customer_query(filter)
        page = self.page(customers.ORDER, first, after, last, before)
        async with self.read() as connection:
            cut = await customers.page_of(connection, query, page, self.scope)
        nodes = [self.customer_of(row) for row in cut.rows]
        return connection_of(cut, customers.ORDER, nodes, CountKey("customers", None, query))

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
        async with self.read() as connection:
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
        query = grant_query(filter, order)
        page = self.page(query.ordering(), first, after, last, before)
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
        query = ledger_query(filter)
        if query.grant_id is not None and kind_of(query.grant_id) is None:
            raise bad_input(f"{query.grant_id!r} is not a valid ID")
        page = self.page(ledger.ORDER, first, after, last, before)
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
        page = self.page(ledger.ORDER, first, after, last, before)
        return await self._ledger_pages.load(("grant", grant_id, LedgerQuery(), page))

    async def expirations(
        self, customer_id: str, within: Duration, currency: str | None
    ) -> list[CreditExpiration]:
        try:
            until = add_duration(self.now, within)
        except (OverflowError, ValueError) as error:
            raise bad_input("within is out of range") from error
        return await self._expirations.load((customer_id, until, currency))

    async def ledger_head(self, customer_id: str, currency: str) -> CreditLedgerHead:
        if await self.runtime.catalog.get(currency) is None:
            raise bad_input(f"{currency!r} is not a known currency")
        return await self._heads.load((customer_id, currency))

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
        settings = self.settings
        return page_of(
            ordering,
            first,
            after,
            last,
            before,
            default=settings.default_page_size,
            maximum=settings.max_page_size,
        )

    async def scales(self, codes: Iterable[str]) -> dict[str, int]:
        found = await self.runtime.catalog.get_many(set(codes))
        return {code: currency.scale for code, currency in found.items()}

    async def entry_objects(self, rows: Sequence[Any]) -> list[CreditLedgerEntry]:
        scales = await self.scales(r.currency for r in rows)
        return [CreditLedgerEntry.from_row(row, scales) for row in rows]

    # ---- rows to objects (the request remembers customers and grants it has seen)

    def customer_of(self, row: Any) -> Customer:
        customer = self.known_customers[row.id] = Customer.from_row(row)
        return customer

    async def grant_objects(self, rows: Sequence[Any]) -> dict[str, CreditGrant]:
        currencies = {r.currency for r in rows}
        scales = await self.scales(currencies | {r.purchase_currency for r in rows} - {None})
        made = {row.id: CreditGrant.from_row(row, scales, self.now) for row in rows}
        self.known_grants.update(made)
        return made

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return read_connection(self.runtime.engine)

    # ---- batches

    async def _load_customers(self, ids: list[str]) -> list[Customer | None]:
        async with self.read() as connection:
            rows = await customers.by_ids(connection, ids, self.scope)
        found = {row.id: self.customer_of(row) for row in rows}
        return [found.get(i) for i in ids]

    async def _load_grants(self, ids: list[str]) -> list[CreditGrant | None]:
        await self._caught_up_grants(ids)
        async with self.read() as connection:
            rows = await grants.by_ids(connection, ids, self.scope)
        found = await self.grant_objects(rows)
        return [found.get(i) for i in ids]

    async def _load_consumptions(self, ids: list[str]) -> list[CreditConsumption | None]:
        async with self.read() as connection:
            rows = await ledger.consumptions_by_ids(connection, ids, self.scope)
        scales = await self.scales(r.currency for r in rows)
        found = {row.id: CreditConsumption.from_row(row, scales) for row in rows}
        return [found.get(i) for i in ids]

    async def _load_entries(self, ids: list[str]) -> list[CreditLedgerEntry | None]:
        async with self.read() as connection:
            rows = await ledger.entries_by_ids(connection, ids, self.scope)
        found = {str(e.id): e for e in await self.entry_objects(rows)}
        return [found.get(i) for i in ids]

    async def _load_consumption_entries(self, ids: list[str]) -> list[list[CreditLedgerEntry]]:
        async with self.read() as connection:
            rows = await ledger.consumed_entries(connection, ids)
        by_consumption: dict[str, list[CreditLedgerEntry]] = defaultdict(list)
        for row, entry in zip(rows, await self.entry_objects(rows), strict=True):
            by_consumption[row.consumption_id].append(entry)
        return [by_consumption[i] for i in ids]

    async def _load_balances(self, keys: list[Until]) -> list[list[CreditBalance]]:
        await self.catch_up.customers(k[0] for k in keys)
        found: list[Balance] = []
        for (at, feature_key), batch in group(keys, lambda k: (k[1], k[2])).items():
            async with self.read() as connection:
                read = await read_balances(connection, [k[0] for k in batch], at, feature_key)
            found.extend(read.values())
        scales = await self.scales({b.currency for b in found})
        results: dict[Until, list[CreditBalance]] = defaultdict(list)
        for balance in found:
            key = (balance.customer_id, balance.at, balance.feature_key)
            results[key].append(CreditBalance.from_balance(balance, scales[balance.currency]))
        return [results[key] for key in keys]

    async def _load_grant_pages(self, keys: list[GrantPage]) -> list[CreditGrantConnection]:
        await self.catch_up.customers(k[0] for k in keys)
        results: dict[GrantPage, CreditGrantConnection] = {}
        for (query, page), batch in group(keys, lambda k: (k[1], k[2])).items():
            async with self.read() as connection:
                cuts = await grants.pages(connection, [k[0] for k in batch], query, page, self.now)
            made = await self.grant_objects([row for cut in cuts.values() for row in cut.rows])
            for customer_id, cut in cuts.items():
                nodes = [made[row.id] for row in cut.rows]
                count = CountKey("grants", customer_id, query)
                paged = connection_of(cut, query.ordering(), nodes, count)
                results[(customer_id, query, page)] = paged
        return [results[key] for key in keys]

    async def _load_ledger_pages(self, keys: list[LedgerPage]) -> list[CreditLedgerEntryConnection]:
        await self._caught_up_ledgers([(kind, parent, query) for kind, parent, query, _ in keys])
        results: dict[LedgerPage, CreditLedgerEntryConnection] = {}
        for (kind, query, page), batch in group(keys, lambda k: (k[0], k[2], k[3])).items():
            parents = [k[1] for k in batch]
            async with self.read() as connection:
                cuts = await ledger.pages(connection, kind, parents, query, page, self.scope)
            scales = await self.scales(r.currency for cut in cuts.values() for r in cut.rows)
            for parent, cut in cuts.items():
                nodes = [CreditLedgerEntry.from_row(row, scales) for row in cut.rows]
                count = CountKey(f"ledger:{kind}", parent, query)
                paged = connection_of(cut, ledger.ORDER, nodes, count)
                results[(kind, parent, query, page)] = paged
        return [results[key] for key in keys]

    async def _load_expirations(self, keys: list[Until]) -> list[list[CreditExpiration]]:
        await self.catch_up.customers(k[0] for k in keys)
        results: dict[Until, list[CreditExpiration]] = defaultdict(list)
        for (until, currency), batch in group(keys, lambda k: (k[1], k[2])).items():
            customer_ids = [k[0] for k in batch]
            async with self.read() as connection:
                rows = await grants.expiring(connection, customer_ids, self.now, until, currency)
            made = await self.grant_objects(rows)
            for row in rows:
                expiration = CreditExpiration.of_grant(made[row.id])
                results[(row.customer_id, until, currency)].append(expiration)
        return [results[key] for key in keys]

    async def _load_heads(self, keys: list[tuple[str, str]]) -> list[CreditLedgerHead]:
        """After the customers' due events: the head is the ledger's last entry now."""
        await self.catch_up.customers(k[0] for k in keys)
        async with self.read() as connection:
            found = await ledger.heads(connection, keys)
        heads = [(k[1], *found.get(k, (0, GENESIS))) for k in keys]
        return [CreditLedgerHead(currency=c, sequence=s, hash=h) for c, s, h in heads]

    async def _load_counts(self, keys: list[CountKey]) -> list[int]:
        await self.catch_up.customers(str(k.parent) for k in keys if k.kind == "grants")
        ledgers = [(k.kind.removeprefix("ledger:"), k.parent, k.query) for k in keys]
        await self._caught_up_ledgers([key for key in ledgers if key[0] in LEDGER_KINDS])
        results: dict[CountKey, int] = {}
        for (kind, query), batch in group(keys, lambda k: (k.kind, k.query)).items():
            async with self.read() as connection:
                found = await self._counts_of(connection, kind, query, [k.parent for k in batch])
            results |= {k: found[k.parent] for k in batch}
        return [results[key] for key in keys]

    async def _counts_of(
        self, connection: AsyncConnection, kind: str, query: Any, parents: list[str | None]
    ) -> dict[str | None, int]:
        if kind == "customers":
            return {None: await customers.count(connection, query, self.scope)}
        if kind == "grants":
            found = await grants.counts(connection, [str(p) for p in parents], query, self.now)
            return {customer_id: count for customer_id, count in found.items()}
        whose = kind.removeprefix("ledger:")
        return await ledger.counts(connection, whose, parents, query, self.scope)

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
