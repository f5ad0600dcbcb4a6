"""The loader of connections' `totalCount`s: one statement per kind of count and filter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.batching import group, loader
from app.api.loaders.base import CountKey, LoaderBase
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.queries import customers, grants, ledger, schedules, thresholds
from app.storage.tables import grants as grant_table
from app.storage.tables import schedules as schedule_table

LEDGER_KINDS = ("grant", "customer", "all")
SCHEDULE_COUNTS = {  # a customer's schedules, a schedule's grants
    "schedules": schedule_table.c.customer_id,
    "schedule-grants": grant_table.c.schedule_id,
}


class CountLoaders(LoaderBase):
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        super().__init__(runtime, settings, now, scope)
        self._counts = loader(self._load_counts)

    async def count(self, key: CountKey) -> int:
        return await self._counts.load(key)

    async def _load_counts(self, keys: list[CountKey]) -> list[int]:
        await self.catch_up.customers(str(k.parent) for k in keys if k.kind == "grants")
        await self.catch_up.customers(str(k.query) for k in keys if k.kind == "schedule-grants")
        ledgers = [(k.kind.removeprefix("ledger:"), k.parent, k.query) for k in keys]
        await self.caught_up_ledgers([key for key in ledgers if key[0] in LEDGER_KINDS])
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
        if kind in SCHEDULE_COUNTS:
            return dict(await schedules.counts(connection, SCHEDULE_COUNTS[kind], parents))  # type: ignore[arg-type]
        if kind.startswith("threshold events:"):
            parent_ids = [str(p) for p in parents]
            whose = kind.removeprefix("threshold events:")
            return await thresholds.counts(connection, whose, parent_ids, query, self.scope)
        whose = kind.removeprefix("ledger:")
        return await ledger.counts(connection, whose, parents, query, self.scope)
