"""Revision 0007 backfills the running figures of an existing ledger: downgraded to 0006 and
upgraded again, a database holds the very figures its writes kept, and verifies clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.verify import verify
from app.storage.engine import create_engine, read_connection
from app.storage.tables import entries, scope_figures
from tests.cli.test_migrations import read_then_redone
from tests.conftest import START
from tests.databases import empty_postgres
from tests.services.support import consume, promo

FIGURES = [c for c in entries.c if c.name.endswith("_after")]


async def history(url: str) -> Runtime:
    engine = create_engine(url)
    runtime = Runtime(engine, FrozenClock(START), CurrencyCatalog(engine), RecordingPublisher())
    for n in range(2):
        customer_id, _ = await create_customer(runtime, key=f"c{n}", name="Acme")
        await promo(runtime, customer_id, "100")
        await promo(runtime, customer_id, "50", features=("api", "gpu"))
        await promo(runtime, customer_id, "7", currency="EUR", features=("api",))
        await consume(runtime, customer_id, "30", key="a", feature_key="api")
        await consume(runtime, customer_id, "40", key="b", feature_key="api")
        await consume(runtime, customer_id, "5", key="c", currency="EUR", feature_key="api")
    return runtime


async def figures(url: str) -> tuple[list[Any], list[Any], list[str]]:
    engine = create_engine(url)
    try:
        async with read_connection(engine) as connection:
            kept = select(entries.c.id, *FIGURES).order_by(entries.c.id)
            rows = [tuple(r) for r in (await connection.execute(kept)).all()]
            scoped = select(scope_figures).order_by(*scope_figures.primary_key.columns)
            scopes = [tuple(r) for r in (await connection.execute(scoped)).all()]
        return rows, scopes, await verify(engine)
    finally:
        await engine.dispose()


async def write(url: str) -> None:
    runtime = await history(url)
    await runtime.engine.dispose()


def written_then_backfilled(url: str) -> None:
    written, backfilled = read_then_redone(url, write, figures, "0006")
    assert len(written[0]) == 14 and len(written[1]) == 2 * (9 + 4)
    assert written[2] == []
    assert backfilled == written


def test_0007_backfills_the_running_figures_on_sqlite(tmp_path: Path) -> None:
    written_then_backfilled(f"sqlite:///{tmp_path / 'credits.db'}")


def test_0007_backfills_the_running_figures_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url, "credits_migrations") as url:
        written_then_backfilled(url)
