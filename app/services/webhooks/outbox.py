"""The outbox: each committed change's webhook events, written by its own transaction.

`stage` runs inside the write transaction, after its last change: one multi-row insert
of a delivery per event and endpoint that wants it, and none at all when no endpoint
wants the transaction's events (the usual case costs no statement). Which endpoints
exist is kept in memory: read on first use, again at once after this process changes
an endpoint, and every second by the delivery worker (another process's change to its
endpoints is seen within about a second).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.events import Change, Committed
from app.domain.ids import new_id
from app.domain.webhooks import ATTEMPTS, DeliveryStatus, EventType
from app.services.webhooks import payloads
from app.storage.engine import read_connection
from app.storage.tables import grants, webhook_deliveries, webhook_endpoints

if TYPE_CHECKING:
    from app.services.currencies import CurrencyCatalog


@dataclass(frozen=True)
class Route:
    """An enabled endpoint, as far as choosing its events goes."""

    endpoint_id: str
    event_types: frozenset[str]
    customer_id: str | None

    def wants(self, type: EventType, customer_id: str) -> bool:
        return type in self.event_types and self.customer_id in (None, customer_id)


class Outbox:
    def __init__(self, engine: AsyncEngine, catalog: CurrencyCatalog) -> None:
        self.engine = engine
        self.catalog = catalog
        self.routes: list[Route] | None = None  # None: to be read
        self.staged = asyncio.Event()  # set once a transaction that queued deliveries commits
        self.queued = False

    def invalidate(self) -> None:
        self.routes = None

    async def refresh(self) -> None:
        async with read_connection(self.engine) as connection:
            self.routes = await _routes(connection)

    async def stage(self, connection: AsyncConnection, committed: Committed) -> None:
        if not committed.changes:
            return
        if self.routes is None:
            self.routes = await _routes(connection)
        wanted = [
            (change, targets)
            for change in committed.changes
            if (targets := [r for r in self.routes if r.wants(change.type, committed.customer_id)])
        ]
        if not wanted:
            return
        bodies = await self._bodies(connection, committed, [change for change, _ in wanted])
        assert committed.at is not None
        rows = [
            _delivery(event_id, change.type, committed, body, route)
            for (change, targets), (event_id, body) in zip(wanted, bodies, strict=True)
            for route in targets
        ]
        await connection.execute(insert(webhook_deliveries), rows)
        self.queued = True

    def committed(self) -> None:
        """After the commit of a transaction that staged: wake the worker."""
        if self.queued:
            self.queued = False
            self.staged.set()

    async def _bodies(
        self, connection: AsyncConnection, committed: Committed, changes: list[Change]
    ) -> list[tuple[str, str]]:
        grant_rows = await _grant_rows(connection, {c.subject_id for c in changes if c.row is None})
        currencies = {row["currency"] for row in grant_rows.values()}
        currencies |= {row["purchase_currency"] for row in grant_rows.values()} - {None}
        currencies |= {c.row["currency"] for c in changes if c.row is not None}
        scales = {code: await self._scale(code) for code in currencies}
        assert committed.at is not None
        made = []
        for change in changes:
            event_id = new_id("webhook_event")
            data = DATA[change.type](change, grant_rows, scales, committed.at)
            made.append(
                (
                    event_id,
                    payloads.body(event_id, change.type, committed.at, committed.customer_id, data),
                )
            )
        return made

    async def _scale(self, code: str) -> int:
        currency = await self.catalog.get(code)
        assert currency is not None
        return currency.scale


Rows = dict[str, Any]
Body = Callable[[Change, Rows, dict[str, int], datetime], dict[str, Any]]


def _grant(change: Change, grant_rows: Rows, scales: dict[str, int], at: datetime) -> Any:
    return {"grant": payloads.grant(grant_rows[change.subject_id], scales, at)}


def _consumption(change: Change, grant_rows: Rows, scales: dict[str, int], at: datetime) -> Any:
    assert change.row is not None
    scale = scales[change.row["currency"]]
    return {"consumption": payloads.consumption(change.row, list(change.entries), scale)}


def _threshold_event(change: Change, grant_rows: Rows, scales: dict[str, int], at: datetime) -> Any:
    assert change.row is not None
    scale = scales[change.row["currency"]]
    return {"thresholdEvent": payloads.threshold_event(change.row, scale)}


# The `data` of each event type's body. A change without a row is described by its
# grant's row as committed; one with a row (and its entries) by those.
DATA: dict[EventType, Body] = {
    EventType.CREDIT_GRANT_CREATED: _grant,
    EventType.CREDIT_GRANT_FUNDED: _grant,
    EventType.CREDIT_GRANT_SETTLEMENT_CHANGED: _grant,
    EventType.CREDIT_GRANT_EXPIRED: _grant,
    EventType.CREDIT_GRANT_VOIDED: _grant,
    EventType.CREDIT_CONSUMPTION_CREATED: _consumption,
    EventType.CREDIT_CONSUMPTION_REVERSED: _consumption,
    EventType.CREDIT_THRESHOLD_CROSSED: _threshold_event,
    EventType.CREDIT_THRESHOLD_RECOVERED: _threshold_event,
}


def _delivery(
    event_id: str, type: EventType, committed: Committed, body: str, route: Route
) -> dict[str, Any]:
    return {
        "id": new_id("webhook_delivery"),
        "endpoint_id": route.endpoint_id,
        "event_id": event_id,
        "event_type": type.value,
        "customer_id": committed.customer_id,
        "occurred_at": committed.at,
        "payload": body,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "attempt_limit": ATTEMPTS,
        "next_attempt_at": committed.at,
        "lease": None,
        "created_at": committed.at,
    }


async def _routes(connection: AsyncConnection) -> list[Route]:
    statement = select(
        webhook_endpoints.c.id, webhook_endpoints.c.event_types, webhook_endpoints.c.customer_id
    ).where(webhook_endpoints.c.enabled.is_(True))
    return [
        Route(row.id, frozenset(row.event_types), row.customer_id)
        for row in await connection.execute(statement)
    ]


async def _grant_rows(connection: AsyncConnection, ids: Collection[str]) -> dict[str, Any]:
    if not ids:
        return {}
    statement = select(grants).where(grants.c.id.in_(sorted(ids)))
    return {row.id: row._mapping for row in await connection.execute(statement)}
