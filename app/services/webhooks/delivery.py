"""Delivering the outbox: claim what is due, post it signed, log the attempt.

Every server process runs this (app/live/deliverer.py); `credits deliver` runs it alone.
A claim takes, in one write transaction, the first PENDING delivery of each endpoint and
customer whose attempt is due, locking the rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
SQLite has a single writer), and leases them: their next attempt moves past the lease,
so no other process takes them while the POST is under way. The attempt is logged and
the delivery moved on in a second transaction. A process that dies mid-attempt leaves
its lease to expire: the delivery is attempted again (at least once, never at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Row, and_, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import Issues, NotFound
from app.domain.ids import kind_of, new_id
from app.domain.webhooks import (
    RESPONSE_KEPT,
    TIMEOUT,
    DeliveryStatus,
    after_failure,
    signatures,
)
from app.services.common import check_id
from app.services.runtime import Runtime
from app.services.webhooks.addresses import url_problem
from app.storage.engine import connection_of, read_connection, write_transaction, writing
from app.storage.tables import webhook_attempts, webhook_deliveries, webhook_endpoints

LEASE = timedelta(seconds=20)  # longer than an attempt takes (TIMEOUT, then its log)
BATCH = 20
PENDING = DeliveryStatus.PENDING.value
Outcome = Callable[[str], None]  # told "succeeded", "retrying" or "failed" after each attempt

deliveries = webhook_deliveries
earlier = deliveries.alias("earlier")
enabled = select(webhook_endpoints.c.id).where(webhook_endpoints.c.enabled.is_(True))


@dataclass(frozen=True)
class Claim:
    delivery: Row[Any]
    url: str
    secrets: list[str]
    lease: str


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status: int | None
    duration_ms: int
    body: str | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def deliver_due(
    runtime: Runtime,
    client: httpx.AsyncClient,
    *,
    allow_loopback: bool = False,
    answer_within: float = TIMEOUT,
    outcome: Outcome | None = None,
) -> int:
    """One round: claim what is due, attempt each, log each. How many were attempted."""
    claims = await claim(runtime)
    attempts = await asyncio.gather(
        *(post(runtime, client, c, allow_loopback, answer_within) for c in claims)
    )
    if claims:
        async with write_transaction(runtime.engine) as connection:
            told = [await log(connection, *pair) for pair in zip(claims, attempts, strict=True)]
        # counted once committed: a scrape never sees an attempt the outbox does not show
        if outcome is not None:
            for name in told:
                outcome(name)
    return len(claims)


async def claim(runtime: Runtime, limit: int = BATCH) -> list[Claim]:
    async with connection_of(runtime.engine) as connection, writing(connection):
        now = runtime.clock.now()
        rows = (await connection.execute(_due(connection, now, limit))).all()
        if not rows:
            return []
        lease = new_id("webhook_delivery")
        await connection.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([row.id for row in rows]))
            .values(lease=lease, next_attempt_at=now + LEASE)
        )
        endpoints = await _endpoints(connection, {row.endpoint_id for row in rows})
    return [
        Claim(row, endpoints[row.endpoint_id].url, _secrets(endpoints[row.endpoint_id], now), lease)
        for row in rows
    ]


def _due(connection: AsyncConnection, now: datetime, limit: int) -> Any:
    """The first PENDING delivery of each endpoint and customer, if its attempt is due."""
    before_it = exists().where(
        earlier.c.endpoint_id == deliveries.c.endpoint_id,
        earlier.c.customer_id == deliveries.c.customer_id,
        earlier.c.status == PENDING,
        earlier.c.position < deliveries.c.position,
    )
    statement = (
        select(deliveries)
        .where(
            deliveries.c.status == PENDING,
            deliveries.c.next_attempt_at <= now,
            deliveries.c.endpoint_id.in_(enabled.scalar_subquery()),
            ~before_it,
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.position)
        .limit(limit)
    )
    if connection.dialect.name == "sqlite":
        return statement
    return statement.with_for_update(skip_locked=True, of=deliveries)


async def _endpoints(connection: AsyncConnection, ids: set[str]) -> dict[str, Row[Any]]:
    statement = select(webhook_endpoints).where(webhook_endpoints.c.id.in_(sorted(ids)))
    return {row.id: row for row in await connection.execute(statement)}


def _secrets(endpoint: Row[Any], now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    kept = endpoint.previous_secret_until is not None and endpoint.previous_secret_until > now
    return [endpoint.secret, *([endpoint.previous_secret] if kept else [])]


async def post(
    runtime: Runtime,
    client: httpx.AsyncClient,
    claim: Claim,
    allow_loopback: bool,
    answer_within: float,
) -> Attempt:
    at = runtime.clock.now()
    started = time.monotonic()
    problem = await url_problem(claim.url, allow_loopback)
    if problem:
        return Attempt(at, None, 0, None, f"refused: the URL {problem}")
    delivery = claim.delivery
    body = delivery.payload.encode()
    timestamp = int(at.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures(claim.secrets, delivery.event_id, timestamp, body),
    }
    try:
        async with asyncio.timeout(answer_within):
            status, kept = await _send(client, claim.url, body, headers)
    except (httpx.HTTPError, TimeoutError, OSError) as error:
        return Attempt(at, None, _since(started), None, _describe(error, answer_within))
    return Attempt(at, status, _since(started), kept, None)


async def _send(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    """The answer's status and the start of its body (never more than that is read)."""
    async with client.stream("POST", url, content=body, headers=headers) as response:
        kept = b""
        async for chunk in response.aiter_bytes():
            kept += chunk
            if len(kept) >= RESPONSE_KEPT:
                break
    return response.status_code, kept[:RESPONSE_KEPT].decode(errors="replace")


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _describe(error: Exception, answer_within: float) -> str:
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return f"no answer within {answer_within:g} s"
    return f"{type(error).__name__}: {error}"[:RESPONSE_KEPT] or type(error).__name__


async def log(connection: AsyncConnection, claim: Claim, attempt: Attempt) -> str:
    """Log the attempt and move the delivery on; the outcome's name."""
    delivery = claim.delivery
    await connection.execute(
        insert(webhook_attempts).values(
            delivery_id=delivery.id,
            at=attempt.at,
            response_status=attempt.status,
            duration_ms=attempt.duration_ms,
            response_body=attempt.body,
            error=attempt.error,
        )
    )
    attempts = delivery.attempts + 1
    following = (
        None if attempt.succeeded else after_failure(attempts, delivery.attempt_limit, attempt.at)
    )
    if attempt.succeeded:
        status, told = DeliveryStatus.SUCCEEDED, "succeeded"
    elif following is None:
        status, told = DeliveryStatus.FAILED, "failed"
    else:
        status, told = DeliveryStatus.PENDING, "retrying"
    await connection.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery.id, deliveries.c.lease == claim.lease)
        .values(status=status.value, attempts=attempts, next_attempt_at=following, lease=None)
    )
    return told


async def redeliver(runtime: Runtime, *, delivery_id: str) -> str:
    """Queue one more attempt of a delivery, due now (ahead of the later events of its
    endpoint and customer, as it was committed before them)."""
    issues = Issues()
    if kind_of(delivery_id) != "webhook_delivery":
        check_id(issues, ("input", "deliveryId"), delivery_id)
    issues.raise_any()
    async with write_transaction(runtime.engine) as connection:
        statement = select(deliveries).where(deliveries.c.id == delivery_id)
        row = (await connection.execute(statement)).first()
        if row is None:
            raise NotFound("Webhook delivery", delivery_id)
        if row.status != PENDING or row.lease is None:
            limit = row.attempt_limit if row.status == PENDING else row.attempts + 1
            await connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    status=PENDING,
                    attempt_limit=limit,
                    next_attempt_at=runtime.clock.now(),
                    lease=None,
                )
            )
    runtime.outbox.staged.set()
    return delivery_id


async def oldest_undelivered(runtime: Runtime) -> float:
    """Seconds since the oldest event still PENDING for an endpoint was committed (0: none)."""
    statement = select(func.min(deliveries.c.occurred_at)).where(
        and_(
            deliveries.c.status == PENDING, deliveries.c.endpoint_id.in_(enabled.scalar_subquery())
        )
    )
    async with read_connection(runtime.engine) as connection:
        oldest: datetime | None = (await connection.execute(statement)).scalar()
    if oldest is None:
        return 0.0
    return max(0.0, (runtime.clock.now() - oldest).total_seconds())
