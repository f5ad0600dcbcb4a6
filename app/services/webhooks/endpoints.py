"""Managing webhook endpoints (ADMIN only; the API checks the role): create with a
one-time secret, update, rotate the secret with a 24-hour overlap, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import Issues, NotFound
from app.domain.ids import kind_of, new_id
from app.domain.validation import check_text
from app.domain.webhooks import MAX_ENDPOINTS, ROTATION_OVERLAP, EventType, new_secret
from app.services.common import check_id
from app.services.runtime import Runtime
from app.services.webhooks.addresses import url_problem
from app.storage.engine import write_transaction
from app.storage.tables import customers, webhook_attempts, webhook_deliveries, webhook_endpoints

URL = ("input", "url")


@dataclass(frozen=True)
class EndpointOutcome:
    endpoint: Row[Any]
    secret: str | None = None  # on creation and rotation only


async def create_endpoint(
    runtime: Runtime,
    *,
    url: str,
    event_types: Sequence[EventType],
    customer_id: str | None = None,
    description: str | None = None,
    allow_loopback: bool = False,
) -> EndpointOutcome:
    issues = Issues()
    await _check_url(issues, url, allow_loopback)
    _check_event_types(issues, event_types)
    check_text(issues, ("input", "description"), description, low=0, high=1024, lines=True)
    if customer_id is not None:
        check_id(issues, ("input", "customerId"), customer_id)
    issues.raise_any()
    now = runtime.clock.now()
    secret = new_secret()
    values = {
        "id": new_id("webhook_endpoint"),
        "url": url,
        "description": description,
        "event_types": sorted({t.value for t in event_types}),
        "customer_id": customer_id,
        "enabled": True,
        "secret": secret,
        "created_at": now,
        "updated_at": now,
    }
    async with write_transaction(runtime.engine) as connection:
        if customer_id is not None and not await _customer_exists(connection, customer_id):
            raise NotFound("Customer", customer_id)
        count = select(func.count()).select_from(webhook_endpoints)
        if (await connection.execute(count)).scalar_one() >= MAX_ENDPOINTS:
            issues.add(URL, f"at most {MAX_ENDPOINTS} endpoints: delete one first")
            issues.raise_any()
        await connection.execute(insert(webhook_endpoints).values(values))
        row = await _endpoint(connection, str(values["id"]))
    runtime.outbox.invalidate()
    return EndpointOutcome(row, secret)


async def update_endpoint(
    runtime: Runtime,
    *,
    endpoint_id: str,
    url: str | None = None,
    event_types: Sequence[EventType] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
    allow_loopback: bool = False,
) -> EndpointOutcome:
    issues = Issues()
    _check_endpoint_id(issues, endpoint_id)
    if url is not None:
        await _check_url(issues, url, allow_loopback)
    if event_types is not None:
        _check_event_types(issues, event_types)
    check_text(issues, ("input", "description"), description, low=0, high=1024, lines=True)
    issues.raise_any()
    changes: dict[str, Any] = {
        "url": url,
        "event_types": None if event_types is None else sorted({t.value for t in event_types}),
        "enabled": enabled,
        "description": description,
    }
    return await _change(runtime, endpoint_id, {k: v for k, v in changes.items() if v is not None})


async def rotate_secret(runtime: Runtime, *, endpoint_id: str) -> EndpointOutcome:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    issues = Issues()
    _check_endpoint_id(issues, endpoint_id)
    issues.raise_any()
    now = runtime.clock.now()
    secret = new_secret()
    async with write_transaction(runtime.engine) as connection:
        row = await _endpoint(connection, endpoint_id)
        values = {
            "secret": secret,
            "previous_secret": row.secret,
            "previous_secret_until": now + ROTATION_OVERLAP,
            "updated_at": now,
        }
        await connection.execute(_update(endpoint_id).values(values))
        row = await _endpoint(connection, endpoint_id)
    return EndpointOutcome(row, secret)


async def delete_endpoint(runtime: Runtime, *, endpoint_id: str) -> EndpointOutcome:
    """The endpoint as it was; its deliveries and their attempts go with it."""
    issues = Issues()
    _check_endpoint_id(issues, endpoint_id)
    issues.raise_any()
    async with write_transaction(runtime.engine) as connection:
        row = await _endpoint(connection, endpoint_id)
        its = select(webhook_deliveries.c.id).where(webhook_deliveries.c.endpoint_id == endpoint_id)
        await connection.execute(
            delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(its))
        )
        await connection.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
        )
        await connection.execute(
            delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        )
    runtime.outbox.invalidate()
    return EndpointOutcome(row)


async def _change(runtime: Runtime, endpoint_id: str, values: dict[str, Any]) -> EndpointOutcome:
    async with write_transaction(runtime.engine) as connection:
        await _endpoint(connection, endpoint_id)
        if values:
            values["updated_at"] = runtime.clock.now()
            await connection.execute(_update(endpoint_id).values(values))
        row = await _endpoint(connection, endpoint_id)
    runtime.outbox.invalidate()
    return EndpointOutcome(row)


def _update(endpoint_id: str) -> Any:
    return update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)


async def _endpoint(connection: AsyncConnection, endpoint_id: str) -> Row[Any]:
    statement = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    row = (await connection.execute(statement)).first()
    if row is None:
        raise NotFound("Webhook endpoint", endpoint_id)
    return row


async def _customer_exists(connection: AsyncConnection, customer_id: str) -> bool:
    statement = select(customers.c.id).where(customers.c.id == customer_id)
    return (await connection.execute(statement)).first() is not None


async def _check_url(issues: Issues, url: str, allow_loopback: bool) -> None:
    problem = await url_problem(url, allow_loopback)
    if problem:
        issues.add(URL, problem)


def _check_event_types(issues: Issues, event_types: Sequence[EventType]) -> None:
    if not event_types:
        issues.add(("input", "eventTypes"), "give at least one event type")


def _check_endpoint_id(issues: Issues, endpoint_id: str) -> None:
    if kind_of(endpoint_id) != "webhook_endpoint":
        check_id(issues, ("input", "endpointId"), endpoint_id)
