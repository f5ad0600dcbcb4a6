"""Loaders of connections: pages of customers, of a customer's grants, of ledger entries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app.api.batching import group, loader
from app.api.customers import CustomerConnection, customer_query
from app.api.errors import bad_input
from app.api.grants import CreditGrantConnection, grant_query
from app.api.ledger import CreditLedgerEntry, CreditLedgerEntryConnection, ledger_query
from app.api.loaders.base import CountKey, LoaderBase
from app.api.pagination import connection_of
from app.domain.ids import kind_of
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.queries import customers, grants, ledger
from app.storage.queries.grants import GrantQuery
from app.storage.queries.ledger import LedgerQuery
from app.storage.queries.pages import Page

if TYPE_CHECKING:
    from app.api.customers import CustomerFilter
    from app.api.grants import CreditGrantFilter, CreditGrantOrder
    from app.api.ledger import CreditLedgerFilter

GrantPage = tuple[str, GrantQuery, Page]
LedgerPage = tuple[str, str | None, LedgerQuery, Page]  # kind, parent, filter, page


class PageLoaders(LoaderBase):
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        super().__init__(runtime, settings, now, scope)
        self._grant_pages = loader(self._load_grant_pages)
        self._ledger_pages = loader(self._load_ledger_pages)

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
        await self.caught_up_ledgers([(kind, parent, query) for kind, parent, query, _ in keys])
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
