"""Revision 0008 hashes the entries written before tamper evidence existed: a database
downgraded to 0007 (hashes dropped) and upgraded again holds the very hashes the live
write path computed, and verifies clean. The seeded long ledger (6,000 entries) crosses
the migration's batch of 5,000 in the middle of a ledger."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.runtime import Runtime
from app.services.verify import verify
from app.storage import migrations
from app.storage.engine import create_engine, read_connection
from app.storage.seed import Shape, seed
from app.storage.tables import accounts, entries
from tests.cli.test_migrations import run_admin
from tests.services.test_hash_chain import history

SHAPE = Shape(customers=20, grants=2, entries=5, big_entries=6000)


async def write(url: str) -> None:
    engine = create_engine(url)
    try:
        await seed(engine, SHAPE)
        clock = FrozenClock(SHAPE.after)
        runtime = Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
        await history(runtime, "acme")
        await history(runtime, "globex")
    finally:
        await engine.dispose()


async def hashes(url: str) -> tuple[list[Any], list[Any], list[str]]:
    engine = create_engine(url)
    try:
        async with read_connection(engine) as connection:
            kept = select(entries.c.id, entries.c.hash).order_by(entries.c.id)
            rows = [tuple(r) for r in (await connection.execute(kept)).all()]
            heads = select(accounts.c.customer_id, accounts.c.currency, accounts.c.last_hash)
            last = [
                tuple(r)
                for r in (
                    await connection.execute(
                        heads.order_by(accounts.c.customer_id, accounts.c.currency)
                    )
                )
            ]
        return rows, last, await verify(engine)
    finally:
        await engine.dispose()


def written_then_hashed(url: str) -> None:
    migrations.upgrade(url)
    asyncio.run(write(url))
    written = asyncio.run(hashes(url))
    command.downgrade(migrations.alembic_config(url), "0007")
    migrations.upgrade(url)
    hashed = asyncio.run(hashes(url))
    assert len(written[0]) == 20 * 2 * 5 + 6000 + 2 * 9 and len(written[1]) == 21 + 2 * 2
    assert written[2] == []
    assert hashed == written


def test_0008_hashes_an_existing_ledger_on_sqlite(tmp_path: Path) -> None:
    written_then_hashed(f"sqlite:///{tmp_path / 'credits.db'}")


def test_0008_hashes_an_existing_ledger_on_postgresql(postgres_url: str) -> None:
    name = f"credits_migrations_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_url).set(drivername="postgresql")
    run_admin(admin.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
    try:
        written_then_hashed(admin.set(database=name).render_as_string(hide_password=False))
    finally:
        run_admin(admin.render_as_string(hide_password=False), f'DROP DATABASE "{name}"')
