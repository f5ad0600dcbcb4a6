"""Loaders of single objects by id: customers, grants, consumptions and ledger entries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from app.api.batching import loader
from app.api.customers import Customer
from app.api.grants import CreditGrant
from app.api.ledger import CreditConsumption, CreditLedgerEntry
from app.api.loaders.base import LoaderBase
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.queries import customers, grants, ledger


class ObjectLoaders(LoaderBase):
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        super().__init__(runtime, settings, now, scope)
        self._customers = loader(self._load_customers)
        self._grants = loader(self._load_grants)
        self._consumptions = loader(self._load_consumptions)
        self._entries = loader(self._load_entries)
        self._consumption_entries = loader(self._load_consumption_entries)

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

    async def _load_customers(self, ids: list[str]) -> list[Customer | None]:
        async with self.read() as connection:
            rows = await customers.by_ids(connection, ids, self.scope)
        found = {row.id: self.customer_of(row) for row in rows}
        return [found.get(i) for i in ids]

    async def _load_grants(self, ids: list[str]) -> list[CreditGrant | None]:
        await self.caught_up_grants(ids)
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
