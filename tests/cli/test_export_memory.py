"""The export streams: its peak memory does not grow with the ledger.

One ledger of LARGE entries is seeded in bulk (app/storage/seed.py) on SQLite; the
export of its first SMALL entries (a --to bound) and of all of it are measured with
tracemalloc (every Python allocation, peak since reset). 1,000,000 entries would take
minutes to seed and export here, so the test spans 10,000 to 100,000, a factor of ten.
"""

from __future__ import annotations

import tracemalloc
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.services.currencies import CurrencyCatalog
from app.services.export import ExportFormat, export_ledger
from app.storage.export import ExportFilter
from app.storage.seed import Shape, seed
from tests.conftest import create_sqlite_engine

SMALL, LARGE = 10_000, 100_000
SHAPE = Shape(customers=0, grants=10, entries=1, big_entries=LARGE)


async def peak_of_export(engine: AsyncEngine, which: ExportFilter) -> tuple[int, int, int]:
    """Entries exported, bytes of text, and the peak of traced memory meanwhile."""
    entries = size = 0
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    chunks = export_ledger(engine, CurrencyCatalog(engine), which, ExportFormat.JSONL)
    async for text, count in chunks:
        entries += count
        size += len(text)
    return entries, size, tracemalloc.get_traced_memory()[1] - before


async def test_the_exports_peak_memory_stays_flat_from_10_000_to_100_000_entries(
    tmp_path: Path,
) -> None:
    engine = await create_sqlite_engine(tmp_path / "big.db")
    try:
        await seed(engine, SHAPE)
        # the seed books one entry a second from 1 s after its start
        first = ExportFilter(booked_before=SHAPE.start + timedelta(seconds=SMALL + 1))
        await peak_of_export(engine, ExportFilter(booked_before=SHAPE.start))  # warm caches
        tracemalloc.start()
        try:
            small = await peak_of_export(engine, first)
            large = await peak_of_export(engine, ExportFilter())
        finally:
            tracemalloc.stop()
    finally:
        await engine.dispose()
    assert (small[0], large[0]) == (SMALL, LARGE)
    assert large[1] > 9 * small[1]  # ten times the text went through
    assert large[2] <= 1.2 * small[2], f"peak {small[2]} bytes at {SMALL}, {large[2]} at {LARGE}"
    print(f"peak traced memory: {small[2]} bytes at {SMALL} entries, {large[2]} at {LARGE}")
