"""The server's own worker delivers, and /metrics shows attempts by outcome and the age of
the oldest undelivered event."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx

from app.domain.time import FrozenClock
from app.domain.webhooks import EventType
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.settings import Settings
from tests.api.conftest import create_schema
from tests.services.support import promo
from tests.webhooks.support import Receiver, endpoint


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"no {what} within 10 s"
        await asyncio.sleep(0.02)


def figure(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_the_worker_delivers_and_the_metrics_follow(
    tmp_path: Path, clock: FrozenClock
) -> None:
    url = f"sqlite:///{tmp_path}/credits.db"
    await create_schema(url)
    app = create_app(
        Settings(database_url=url, webhooks_allow_loopback=True),
        clock=clock,
        publisher=RecordingPublisher(),
    )
    async with Receiver.running() as receiver, app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def metrics() -> str:
                return (await client.get("/metrics")).text

            receiver.answer = lambda got: 500 if len(receiver.received) == 1 else 200
            await endpoint(runtime, receiver, [EventType.CREDIT_GRANT_CREATED])
            customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
            await promo(runtime, customer_id, "10")
            await until(lambda: len(receiver.received) == 1, "first attempt")

            async def counted(outcome: str) -> str:
                """The metrics once the worker has logged an attempt with this outcome."""
                name = f'credits_webhook_deliveries_total{{outcome="{outcome}"}}'
                deadline = time.monotonic() + 10
                while figure(text := await metrics(), name) != 1.0:
                    assert time.monotonic() < deadline, text
                    await asyncio.sleep(0.02)
                return text

            await counted("retrying")
            clock.advance(timedelta(seconds=3))  # the retry is due at 5 s
            text = await metrics()
            assert figure(text, "credits_webhook_oldest_undelivered_seconds") == 3.0

            clock.advance(timedelta(seconds=2))
            await counted("succeeded")
            # a scrape samples the backlog before it renders the counters, so the one that
            # first shows the success may have sampled just before its commit: scrape again
            # (attempts are counted after their commit, so this one sees it)
            text = await metrics()
            assert figure(text, "credits_webhook_oldest_undelivered_seconds") == 0.0
            assert len(receiver.received) == 2
