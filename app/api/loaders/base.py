"""What every loader shares: the request's instant and scope, its reads, and rows to objects.

The request remembers the customers and grants it has made objects of, so a resolver that
meets one again (`customer_soon`, `grant_soon`) needs no load.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.catch_up import CatchUp, books_time_driven
from app.api.customers import Customer
from app.api.errors import bad_input, checked_instant
from app.api.grants import CreditGrant
from app.api.ledger import CreditLedgerEntry
from app.api.pagination import page_of
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.engine import read_connection
from app.storage.queries.pages import Ordering, Page


@dataclass(frozen=True)
class CountKey:
    kind: str
    parent: str | None
    query: Hashable


class LoaderBase:
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.now = now
        self.scope = scope  # a portal token's customer: every read answers as if only it existed
        self.catch_up = CatchUp(runtime, now, scope)
        self.known_customers: dict[str, Customer] = {}
        self.known_grants: dict[str, CreditGrant] = {}

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return read_connection(self.runtime.engine)

    def instant(self, at: datetime | None) -> datetime:
        if at is None:
            return self.now
        instant = checked_instant(at, "at")
        if instant > self.now:
            raise bad_input("at must not be in the future")
        return instant

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

    def customer_of(self, row: Any) -> Customer:
        customer = self.known_customers[row.id] = Customer.from_row(row)
        return customer

    async def grant_objects(self, rows: Sequence[Any]) -> dict[str, CreditGrant]:
        currencies = {r.currency for r in rows}
        scales = await self.scales(currencies | {r.purchase_currency for r in rows} - {None})
        made = {row.id: CreditGrant.from_row(row, scales, self.now) for row in rows}
        self.known_grants.update(made)
        return made

    async def entry_objects(self, rows: Sequence[Any]) -> list[CreditLedgerEntry]:
        scales = await self.scales(r.currency for r in rows)
        return [CreditLedgerEntry.from_row(row, scales) for row in rows]

    async def caught_up_grants(self, grant_ids: list[str]) -> None:
        """Book the due events of these grants' owners (known owners cost no lookup)."""
        known = self.known_grants
        owners = {g: known[g].customer_id for g in grant_ids if g in known}
        await self.catch_up.grants(grant_ids, owners)

    async def caught_up_ledgers(self, ledgers: list[tuple[str, str | None, Any]]) -> None:
        """(kind, parent, query) of ledger reads: a customer's, a grant's, or everyone's."""
        wanted = [(kind, parent, q) for kind, parent, q in ledgers if books_time_driven(q.types)]
        grant_ids = [str(p) for kind, p, _ in wanted if kind == "grant"]
        grant_ids += [q.grant_id for kind, _, q in wanted if kind == "all" and q.grant_id]
        await self.catch_up.customers(str(p) for kind, p, _ in wanted if kind == "customer")
        await self.caught_up_grants(grant_ids)
        if any(kind == "all" and q.grant_id is None for kind, _, q in wanted):
            await self.catch_up.everyone()
