"""Ledger entries counted as they are committed, without touching the write paths.

The process's publisher is wrapped: every write transaction hands its committed change
to `publish` after the commit (never for a rollback), so counting there counts exactly
the entries this process committed, scheduled funding and expiry included.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.events import Committed
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

    def __getattr__(self, name: str) -> Any:
        """Everything else is the broker's own (subscribe, subscriber_count, …)."""
        if name == "inner":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
