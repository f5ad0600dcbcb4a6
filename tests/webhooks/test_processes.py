"""Real `credits serve` processes: a SIGKILL in the middle of a burst loses no committed
event (SQLite and PostgreSQL), and two processes on one PostgreSQL database deliver
every event with no attempt made twice at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from app.domain.time import SystemClock
from app.live.publisher import NullPublisher
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.storage.engine import create_engine
from tests.scale.conftest import scratch_database
from tests.scale.support import (
    CREDITS,
    Server,
    consume,
    customer_with_credits,
    fresh_client,
    sql,
    start_server,
    stop_server,
)
from tests.services.support import promo
from tests.webhooks.support import Receiver, endpoint, signed_by

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { ... on WebhookEndpointSuccess { secret } }
}"""
LOOPBACK = "true"  # CREDITS_WEBHOOKS_ALLOW_LOOPBACK


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/credits.db"
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    async with scratch_database(postgres_url) as url:
        yield url


async def until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {within} s"
        await asyncio.sleep(0.05)


async def committed_consumptions(database_url: str) -> dict[str, list[str]]:
    """Each customer's consumptions, in commit order (their entries' ledger order)."""
    rows = await sql(
        database_url,
        "SELECT c.customer_id, c.id FROM credit_consumption c JOIN ledger_entry e "
        "ON e.consumption_id = c.id GROUP BY c.customer_id, c.id ORDER BY MIN(e.position)",
    )
    found: dict[str, list[str]] = {}
    for customer_id, consumption_id in rows:
        found.setdefault(customer_id, []).append(consumption_id)
    return found


def arrived(receiver: Receiver) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for event in receiver.first_of_each():
        consumption = event["data"]["consumption"]
        found.setdefault(event["customerId"], []).append(consumption["id"])
    return found


async def spend(server: Server, customer_id: str, count: int, answered: list[str]) -> None:
    """Consumptions one after another until `count` or the server dies."""
    async with fresh_client(server) as client:
        for n in range(count):
            try:
                kind = await consume(client, customer_id, f"k{n}", "0.01")
            except (httpx.HTTPError, ValueError):
                return
            assert kind == "ConsumeCreditsSuccess"
            answered.append(f"{customer_id}:k{n}")


@contextlib.asynccontextmanager
async def serving(database_url: str) -> AsyncIterator[Server]:
    server = await start_server(database_url, webhooks_allow_loopback=LOOPBACK)
    try:
        yield server
    finally:
        await stop_server(server)


async def test_a_sigkill_mid_burst_loses_no_committed_event(database_url: str) -> None:
    async with Receiver.running() as receiver:
        server = await start_server(database_url, webhooks_allow_loopback=LOOPBACK)
        try:
            data = await server.post(
                CREATE, input={"url": receiver.url, "eventTypes": ["CREDIT_CONSUMPTION_CREATED"]}
            )
            secret = data["createWebhookEndpoint"]["secret"]
            customers = [await customer_with_credits(server, f"c{i}", "100") for i in range(5)]
            answered: list[str] = []
            burst = asyncio.gather(*(spend(server, c, 200, answered) for c in customers))
            await until(lambda: len(answered) >= 60, 60, "60 consumptions answered")
            server.process.send_signal(signal.SIGKILL)
            await burst
        finally:
            await stop_server(server)
        committed = await committed_consumptions(database_url)
        total = sum(len(ids) for ids in committed.values())
        assert 60 <= len(answered) <= total < 1000  # killed mid-burst; answered ones committed

        async with serving(database_url):
            await until(lambda: len(receiver.first_of_each()) >= total, 60, "every event")
        assert arrived(receiver) == committed  # none missing, none extra, in commit order
        assert all(signed_by(r, secret) for r in receiver.received)


async def test_two_processes_deliver_every_event_and_never_one_attempt_twice_at_once(
    postgres_url: str,
) -> None:
    async with (
        scratch_database(postgres_url) as database_url,
        Receiver.running() as receiver,
        serving(database_url) as first,
        serving(database_url) as second,
    ):
        receiver.delay = 0.01  # attempts overlap in time
        await first.post(
            CREATE, input={"url": receiver.url, "eventTypes": ["CREDIT_CONSUMPTION_CREATED"]}
        )
        customers = [await customer_with_credits(first, f"c{i}", "100") for i in range(10)]
        answered: list[str] = []
        await asyncio.gather(
            *(spend((first, second)[i % 2], c, 10, answered) for i, c in enumerate(customers))
        )
        assert len(answered) == 100
        await until(lambda: len(receiver.received) >= 100, 60, "every event")
        await asyncio.sleep(1.5)  # a second attempt of any of them would show by now
        committed = await committed_consumptions(database_url)
        assert arrived(receiver) == committed
        assert receiver.overlaps == []
        assert len(receiver.received) == 100  # each exactly once: every attempt succeeded
        rows = await sql(
            database_url, "SELECT status, COUNT(*) FROM webhook_delivery GROUP BY status"
        )
        assert [tuple(row) for row in rows] == [("SUCCEEDED", 100)]
        attempts = await sql(database_url, "SELECT COUNT(*) FROM webhook_attempt")
        assert attempts[0][0] == 100


async def test_credits_deliver_once_delivers_what_is_due_and_stops(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/credits.db"
    environment = os.environ | {
        "CREDITS_DATABASE_URL": database_url,
        "CREDITS_WEBHOOKS_ALLOW_LOOPBACK": "true",
    }
    migrated = await asyncio.create_subprocess_exec(CREDITS, "migrate", env=environment)
    assert await migrated.wait() == 0
    engine = create_engine(database_url)
    runtime = Runtime(engine, SystemClock(), CurrencyCatalog(engine), NullPublisher())
    try:
        async with Receiver.running() as receiver:
            _, secret = await endpoint(runtime, receiver)
            customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
            await promo(runtime, customer_id, "10")
            delivering = await asyncio.create_subprocess_exec(
                CREDITS, "deliver", "--once", env=environment
            )
            assert await asyncio.wait_for(delivering.wait(), 60) == 0
            assert [e["type"] for e in receiver.events()] == [
                "CREDIT_GRANT_CREATED",
                "CREDIT_GRANT_FUNDED",
            ]
            assert all(signed_by(r, secret) for r in receiver.received)
    finally:
        await engine.dispose()
