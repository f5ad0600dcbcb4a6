"""The scheduler inside the server books funding and expiry with no request at all."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from app.settings import Settings
from app.storage.engine import read_connection
from app.storage.tables import entries
from tests.api.conftest import create_schema


async def test_the_scheduler_books_due_funding_and_expiry_without_requests(
    tmp_path: Path, clock: FrozenClock
) -> None:
    url = f"sqlite:///{tmp_path}/credits.db"
    await create_schema(url)
    publisher = RecordingPublisher()
    settings = Settings(database_url=url, scheduler_interval=0.01)
    app = create_app(settings, clock=clock, publisher=publisher)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
        start = clock.now() + timedelta(hours=1)
        request = GrantRequest(
            customer_id=customer_id,
            name="later",
            currency="USD",
            amount=Decimal(3),
            effective_at=start,
            expires_at=start + timedelta(hours=1),
        )
        await grant_promotional_credits(runtime, actor=OPEN, request=request)
        clock.advance(timedelta(hours=3))
        booked: list[tuple[str, object, str]] = []
        for _ in range(200):
            await asyncio.sleep(0.01)
            async with read_connection(runtime.engine) as connection:
                statement = select(entries.c.type, entries.c.booked_at, entries.c.actor_type)
                booked = [
                    tuple(row)
                    for row in await connection.execute(statement.order_by(entries.c.sequence))
                ]
            if len(booked) == 2:
                break

    assert booked == [
        ("FUNDED", start, "SYSTEM"),
        ("EXPIRED", start + timedelta(hours=1), "SYSTEM"),
    ]
    assert [entry.type.value for c in publisher.published for entry in c.entries][-2:] == [
        "FUNDED",
        "EXPIRED",
    ]
