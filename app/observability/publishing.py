"""Ledger entries counted as they are committed, without touching the write paths.

The process's publisher is wrapped: every write transaction hands its committed change
to `publish` after the commit (never for a rollback), so counting there counts exactly
the entries this process committed, scheduled funding and expiry included.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.events import Committed
from app.live.broker import Broker, Subscription
from app.observability.metrics import Metrics
from app.services.runtime import Publisher


class CountingPublisher:
    def __init__(self, inner: Publisher, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def stage(self, connection: AsyncConnection, committed: Committed) -> None:
        await self.inner.stage(connection, committed)

    async def publish(self, committed: Committed) -> None:
        self.metrics.count_entries(committed)
        await self.inner.publish(committed)

    def subscribe(self, customer_id: str) -> Subscription:
        return cast(Broker, self.inner).subscribe(customer_id)

    def subscriber_count(self) -> int:
        return cast(Broker, self.inner).subscriber_count()
