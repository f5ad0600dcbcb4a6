"""The export streams: its peak memory does not grow with the ledger, on either engine.

One ledger of 10,000 entries is seeded in bulk (app/storage/seed.py), then copied in SQL
99 times after itself: 1,000,000 entries of the same shape and size, each copy with its
own ids, sequences and instants (booked a second apart, so `--to` bounds cut the first
10,000 and 100,000). Copying in the database is far quicker than seeding 1,000,000
entries through the domain's objects (over five minutes here). The exports of the first
100,000 and all 1,000,000 are measured with tracemalloc (every Python allocation, peak
since reset). This is the suite's longest test (`-m "not slow"` leaves it out locally;
scripts/test runs it).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.services.currencies import CurrencyCatalog
from app.services.export import ExportFormat, export_ledger
from app.storage.engine import create_engine
from app.storage.export import ExportFilter
from app.storage.seed import Shape, seed
from tests.conftest import empty_database

pytestmark = pytest.mark.slow

BASE, COPIES = 10_000, 99
SIZES = (10_000, 100_000, 1_000_000)
SHAPE = Shape(customers=0, grants=10, entries=1, big_entries=BASE)
COPIED = (
    "customer_id, currency, grant_id, consumption_id, type, amount, balance_before,"
    " balance_after, funded_after, consumed_after, expired_after, voided_after,"
    " promotional_after, actor_type, actor_id, actor_name, funding_method, feature_key,"
    " description, labels, hash"
)
# Ids of 26 digits are valid ULID text, as long as the seed's; instants shift by :shift s.
SHIFTED = {
    "sqlite": (
        "printf('%026d', sequence + :shift)",
        "strftime('%Y-%m-%d %H:%M:%S.000000', {}, '+' || :shift || ' seconds')",
    ),
    "postgresql": (
        "lpad((sequence + :shift)::text, 26, '0')",
        "{} + make_interval(secs => :shift)",
    ),
}


WAL_INTO_FILE = "PRAGMA wal_checkpoint(TRUNCATE)"  # the export reads the file, not a big WAL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from empty_database(request, tmp_path, "credits_export")


async def copy_ledger(engine: AsyncEngine) -> None:
    """COPIES more of the seeded ledger after itself, one INSERT … SELECT each."""
    number, instant = SHIFTED[engine.dialect.name]
    statement = text(
        f"INSERT INTO ledger_entry (id, transaction_id, sequence, booked_at, created_at,"
        f" {COPIED}) SELECT 'ent_' || {number}, 'txn_' || {number}, sequence + :shift,"
        f" {instant.format('booked_at')}, {instant.format('created_at')}, {COPIED}"
        f" FROM ledger_entry WHERE sequence <= {BASE}"
    )
    async with engine.begin() as connection:
        for copy in range(1, COPIES + 1):
            await connection.execute(statement, {"shift": copy * BASE})
    settle = "ANALYZE ledger_entry" if engine.dialect.name == "postgresql" else WAL_INTO_FILE
    async with engine.connect() as connection:
        await connection.execute(text(settle))
        await connection.commit()


async def measure(engine: AsyncEngine, which: ExportFilter) -> tuple[int, int, int, float]:
    """Entries exported, bytes of text, the peak of traced memory meanwhile, seconds."""
    entries = size = 0
    started = time.perf_counter()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    chunks = export_ledger(engine, CurrencyCatalog(engine), which, ExportFormat.JSONL)
    async for chunk, count in chunks:
        entries += count
        size += len(chunk)
    peak = tracemalloc.get_traced_memory()[1] - before
    return entries, size, peak, time.perf_counter() - started


async def test_the_exports_peak_memory_stays_flat_from_10_000_to_1_000_000_entries(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await seed(engine, SHAPE)
        await copy_ledger(engine)
        # the seed books one entry a second from 1 s after its start, and so do the copies
        first = [ExportFilter(booked_before=SHAPE.start + timedelta(seconds=n + 1)) for n in SIZES]
        await measure(engine, ExportFilter(booked_before=SHAPE.start))  # warm caches
        tracemalloc.start()
        try:
            measured = [await measure(engine, which) for which in first]
        finally:
            tracemalloc.stop()
    finally:
        await engine.dispose()
    for n, (_, size, peak, seconds) in zip(SIZES, measured, strict=True):
        print(f"{engine.dialect.name} {n}: {seconds:.1f} s, peak {peak} bytes, {size} of text")
    assert [m[0] for m in measured] == list(SIZES)
    small, large = measured[0], measured[-1]
    assert large[1] > 99 * small[1]  # a hundred times the text went through
    assert large[2] <= 1.2 * small[2], f"peak {small[2]} bytes at 10,000, {large[2]} at 1,000,000"
