"""Revision 0008 hashes the entries written before tamper evidence existed: a database
downgraded to 0007 (hashes dropped) and upgraded again holds the very hashes the live
write path computed, and verifies clean. The seeded long ledger (6,000 entries) crosses
the migration's batch of 5,000 in the middle of a ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.runtime import Runtime
from app.services.verify import verify
from app.storage.engine import create_engine, read_connection
from app.storage.seed import Shape, seed
from app.storage.tables import accounts, entries
from tests.cli.test_migrations import read_then_redone
from tests.databases import empty_postgres
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
    written, hashed = read_then_redone(url, write, hashes, "0007")
    assert len(written[0]) == 20 * 2 * 5 + 6000 + 2 * 9 and len(written[1]) == 21 + 2 * 2
    assert written[2] == []
    assert hashed == written


def test_0008_hashes_an_existing_ledger_on_sqlite(tmp_path: Path) -> None:
    written_then_hashed(f"sqlite:///{tmp_path / 'credits.db'}")


def test_0008_hashes_an_existing_ledger_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url, "credits_migrations") as url:
        written_then_hashed(url)
