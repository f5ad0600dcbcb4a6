"""Loaders of thresholds and their events: by id, a customer's thresholds, pages of events.

A threshold's state and its events move with time-driven entries (an expiry can cross it),
so the customers read are caught up first, as for balances.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from app.api.batching import group, loader
from app.api.loaders.base import CountKey, LoaderBase
from app.api.pagination import connection_of
from app.api.thresholds import CreditThreshold, CreditThresholdEvent, CreditThresholdEventConnection
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.queries import thresholds
from app.storage.queries.pages import Page

ThresholdList = tuple[str, str | None, bool]  # customer, currency, include deleted
EventPage = tuple[str, str, str, str | None, Page]  # kind, parent, its customer, currency, page


class ThresholdLoaders(LoaderBase):
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        super().__init__(runtime, settings, now, scope)
        self._thresholds = loader(self._load_thresholds)
        self._threshold_lists = loader(self._load_threshold_lists)
        self._threshold_events = loader(self._load_threshold_events)
        self._event_pages = loader(self._load_event_pages)

    async def threshold(self, threshold_id: str) -> CreditThreshold:
        found = await self._thresholds.load(threshold_id)
        assert found is not None
        return found

    async def maybe_threshold(self, threshold_id: str) -> CreditThreshold | None:
        return await self._thresholds.load(threshold_id)

    async def threshold_event(self, event_id: str) -> CreditThresholdEvent | None:
        return await self._threshold_events.load(event_id)

    async def customer_thresholds(
        self, customer_id: str, currency: str | None, include_deleted: bool
    ) -> list[CreditThreshold]:
        return await self._threshold_lists.load((customer_id, currency, include_deleted))

    async def threshold_events(
        self,
        kind: str,
        parent: str,
        customer_id: str,
        currency: str | None,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> CreditThresholdEventConnection:
        page = self.page(thresholds.ORDER, first, after, last, before)
        return await self._event_pages.load((kind, parent, customer_id, currency, page))

    async def _threshold_objects(self, rows: list[Any]) -> dict[str, CreditThreshold]:
        codes = {r.currency for r in rows} | {r.top_up_purchase_currency for r in rows}
        scales = await self.scales(codes - {None})
        return {row.id: CreditThreshold.from_row(row, scales) for row in rows}

    async def _load_thresholds(self, ids: list[str]) -> list[CreditThreshold | None]:
        async with self.read() as connection:
            owners = {
                row.customer_id for row in await thresholds.by_ids(connection, ids, self.scope)
            }
        await self.catch_up.customers(owners)
        async with self.read() as connection:
            rows = await thresholds.by_ids(connection, ids, self.scope)
        found = await self._threshold_objects(rows)
        return [found.get(i) for i in ids]

    async def _load_threshold_events(self, ids: list[str]) -> list[CreditThresholdEvent | None]:
        async with self.read() as connection:
            rows = await thresholds.events_by_ids(connection, ids, self.scope)
        scales = await self.scales(r.currency for r in rows)
        found = {row.id: CreditThresholdEvent.from_row(row, scales) for row in rows}
        return [found.get(i) for i in ids]

    async def _load_threshold_lists(self, keys: list[ThresholdList]) -> list[list[CreditThreshold]]:
        await self.catch_up.customers(k[0] for k in keys)
        results: dict[ThresholdList, list[CreditThreshold]] = {}
        for (currency, deleted), batch in group(keys, lambda k: (k[1], k[2])).items():
            async with self.read() as connection:
                rows = await thresholds.of_customers(
                    connection, [k[0] for k in batch], currency, deleted
                )
            made = await self._threshold_objects(rows)
            by_customer: dict[str, list[CreditThreshold]] = defaultdict(list)
            for row in rows:
                by_customer[row.customer_id].append(made[row.id])
            for key in batch:
                results[key] = by_customer[key[0]]
        return [results[key] for key in keys]

    async def _load_event_pages(
        self, keys: list[EventPage]
    ) -> list[CreditThresholdEventConnection]:
        await self.catch_up.customers(k[2] for k in keys)
        results: dict[EventPage, CreditThresholdEventConnection] = {}
        for (kind, currency, page), batch in group(keys, lambda k: (k[0], k[3], k[4])).items():
            parents = [k[1] for k in batch]
            async with self.read() as connection:
                cuts = await thresholds.pages(connection, kind, parents, currency, page, self.scope)
            scales = await self.scales(r.currency for cut in cuts.values() for r in cut.rows)
            for key in batch:
                cut = cuts[key[1]]
                nodes = [CreditThresholdEvent.from_row(row, scales) for row in cut.rows]
                count = CountKey(f"threshold events:{kind}", key[1], currency)
                results[key] = connection_of(cut, thresholds.ORDER, nodes, count)
        return [results[key] for key in keys]
