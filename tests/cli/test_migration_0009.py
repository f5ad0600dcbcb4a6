"""Revision 0009 adds thresholds: a database with a ledger (and thresholds) goes down to
0008 and up again, on SQLite and PostgreSQL; its accounts count no thresholds after the
round trip, and it verifies clean."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from alembic import command
from sqlalchemy import func, select

from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.thresholds import ThresholdRequest, create_credit_threshold
from app.services.verify import verify
from app.storage import migrations
from app.storage.engine import create_engine, read_connection
from app.storage.tables import accounts, threshold_events
from tests.api.conftest import START
from tests.databases import empty_postgres
from tests.services.support import consume, promo


async def write(url: str) -> int:
    """A ledger with a threshold crossed once; how many events it recorded."""
    engine = create_engine(url)
    try:
        runtime = Runtime(engine, FrozenClock(START), CurrencyCatalog(engine), RecordingPublisher())
        customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
        await promo(runtime, customer_id, "100")
        request = ThresholdRequest(customer_id, "Low", "USD", Decimal(50))
        await create_credit_threshold(runtime, actor=OPEN, request=request)
        await consume(runtime, customer_id, "60", key="use")
        async with read_connection(engine) as connection:
            counted = select(func.count()).select_from(threshold_events)
            return int((await connection.execute(counted)).scalar_one())
    finally:
        await engine.dispose()


async def checked(url: str) -> tuple[list[tuple[int, int]], list[str]]:
    engine = create_engine(url)
    try:
        async with read_connection(engine) as connection:
            figures = select(accounts.c.thresholds, accounts.c.threshold_sequence)
            rows = [(int(r[0]), int(r[1])) for r in await connection.execute(figures)]
        return rows, await verify(engine)
    finally:
        await engine.dispose()


def round_trip(url: str) -> None:
    migrations.upgrade(url)
    assert asyncio.run(write(url)) == 1
    assert asyncio.run(checked(url)) == ([(1, 1)], [])
    command.downgrade(migrations.alembic_config(url), "0008")
    migrations.upgrade(url)
    assert asyncio.run(checked(url)) == ([(0, 0)], [])


def test_0009_goes_down_and_up_over_a_ledger_on_sqlite(tmp_path: Path) -> None:
    round_trip(f"sqlite:///{tmp_path / 'credits.db'}")


def test_0009_goes_down_and_up_over_a_ledger_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url, "credits_migrations") as url:
        round_trip(url)
