"""Loaders of grant schedules: by id, each customer's page of them, each one's grants.

A schedule's status and next occurrence change when its occurrences are booked, and its
grants list grows: the due events of the customers concerned are booked first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.api.batching import group, loader
from app.api.grants import CreditGrantConnection
from app.api.loaders.base import CountKey, LoaderBase
from app.api.pagination import connection_of
from app.api.schedules import CreditGrantSchedule, CreditGrantScheduleConnection
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.queries import schedules
from app.storage.queries.pages import Page

GrantsPage = tuple[str, str, Page]  # schedule, its customer, page


class ScheduleLoaders(LoaderBase):
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        super().__init__(runtime, settings, now, scope)
        self._schedules = loader(self._load_schedules)
        self._schedule_pages = loader(self._load_schedule_pages)
        self._schedule_grant_pages = loader(self._load_schedule_grant_pages)

    async def schedule(self, schedule_id: str) -> CreditGrantSchedule | None:
        return await self._schedules.load(schedule_id)

    async def customer_schedules(
        self,
        customer_id: str,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> CreditGrantScheduleConnection:
        page = self.page(schedules.ORDER, first, after, last, before)
        return await self._schedule_pages.load((customer_id, page))

    async def schedule_grants(
        self,
        schedule_id: str,
        customer_id: str,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> CreditGrantConnection:
        page = self.page(schedules.GRANTS_ORDER, first, after, last, before)
        return await self._schedule_grant_pages.load((schedule_id, customer_id, page))

    async def schedule_objects(self, rows: Sequence[Any]) -> dict[str, CreditGrantSchedule]:
        scales = await self.scales(row.currency for row in rows)
        return {row.id: CreditGrantSchedule.from_row(row, scales[row.currency]) for row in rows}

    async def _load_schedules(self, ids: list[str]) -> list[CreditGrantSchedule | None]:
        """Read once; again only for schedules whose next occurrence was due (booked now)."""
        async with self.read() as connection:
            rows = await schedules.by_ids(connection, ids, self.scope)
        due = [r for r in rows if r.next_event_at is not None and r.next_event_at <= self.now]
        if due:
            await self.catch_up.customers(row.customer_id for row in due)
            async with self.read() as connection:
                rows = await schedules.by_ids(connection, ids, self.scope)
        found = await self.schedule_objects(rows)
        return [found.get(i) for i in ids]

    async def _load_schedule_pages(
        self, keys: list[tuple[str, Page]]
    ) -> list[CreditGrantScheduleConnection]:
        await self.catch_up.customers(customer_id for customer_id, _ in keys)
        results = {}
        for page, batch in group(keys, lambda k: k[1]).items():
            customer_ids = [customer_id for customer_id, _ in batch]
            async with self.read() as connection:
                cuts = await schedules.pages(connection, customer_ids, page)
            made = await self.schedule_objects([row for cut in cuts.values() for row in cut.rows])
            for customer_id, cut in cuts.items():
                nodes = [made[row.id] for row in cut.rows]
                count = CountKey("schedules", customer_id, None)
                results[(customer_id, page)] = connection_of(cut, schedules.ORDER, nodes, count)
        return [results[key] for key in keys]

    async def _load_schedule_grant_pages(
        self, keys: list[GrantsPage]
    ) -> list[CreditGrantConnection]:
        await self.catch_up.customers(customer_id for _, customer_id, _ in keys)
        results = {}
        for page, batch in group(keys, lambda k: k[2]).items():
            owners = {schedule_id: customer_id for schedule_id, customer_id, _ in batch}
            async with self.read() as connection:
                cuts = await schedules.grant_pages(connection, list(owners), page)
            made = await self.grant_objects([row for cut in cuts.values() for row in cut.rows])
            for schedule_id, cut in cuts.items():
                nodes = [made[row.id] for row in cut.rows]
                count = CountKey("schedule-grants", schedule_id, owners[schedule_id])
                paged = connection_of(cut, schedules.GRANTS_ORDER, nodes, count)
                results[(schedule_id, owners[schedule_id], page)] = paged
        return [results[key] for key in keys]
