"""The export streams: its peak memory does not grow with the ledger, on either engine.

One ledger of 10,000 entries is seeded in bulk (app/storage/seed.py), then copied after
itself 99 times in one INSERT … SELECT (joined with the copy numbers 1..99): 1,000,000
entries of the same shape and size, each copy with its own ids, sequences and instants
(booked a second apart, so a `--to` bound cuts the first 10,000). The exports of the
first 10,000 and of all 1,000,000 each run in a fresh Python process, untraced (tracemalloc
made the 1,000,000 take minutes), which reports its peak resident memory: the second may
exceed the first by MARGIN at most, about 10 bytes an entry (an export that kept its
rows in a list peaked at 1.65 GB against 117 MB, some 1,500 bytes an entry). This is the
suite's longest test (`-m "not slow"` leaves it out locally; scripts/test runs it).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.engine import create_engine
from app.storage.seed import Shape, seed
from app.storage.tables import entries
from tests.conftest import empty_database

pytestmark = pytest.mark.slow

BASE, COPIES = 10_000, 99
SHAPE = Shape(customers=0, grants=10, entries=1, big_entries=BASE)
MARGIN = 10 * 2**20  # bytes of resident memory
COPIED = (
    "customer_id, currency, grant_id, consumption_id, type, amount, balance_before,"
    " balance_after, funded_after, consumed_after, expired_after, voided_after,"
    " promotional_after, actor_type, actor_id, actor_name, funding_method, feature_key,"
    " description, labels, hash"
)
# Copy numbers n = 1..COPIES; ids of 26 digits are valid ULID text, as long as the seed's;
# instants shift by `shift` seconds.
SHIFT = f"copies.n * {BASE}"
COPY_SQL = {
    "sqlite": (
        f"WITH RECURSIVE copies(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM copies"
        f" WHERE n < {COPIES})",
        ", copies",
        f"printf('%026d', sequence + {SHIFT})",
        f"strftime('%Y-%m-%d %H:%M:%S.000000', {{}}, '+' || ({SHIFT}) || ' seconds')",
    ),
    "postgresql": (
        "",
        f", generate_series(1, {COPIES}) AS copies(n)",
        f"lpad((sequence + {SHIFT})::text, 26, '0')",
        f"{{}} + make_interval(secs => {SHIFT})",
    ),
}
# PostgreSQL checks foreign keys by a trigger a row: most of the copy's time otherwise.
NO_FOREIGN_KEY_TRIGGERS = "SET LOCAL session_replication_role = replica"
# The export reads the file, not a big WAL; PostgreSQL plans with the copies counted.
SETTLE = {"sqlite": "PRAGMA wal_checkpoint(TRUNCATE)", "postgresql": "ANALYZE ledger_entry"}
# Exports entries booked before argv[2] (ISO) from argv[1]; prints entries, characters and
# the process's peak resident memory in bytes (ru_maxrss is in KiB on Linux).
EXPORT = """
import asyncio, resource, sys
from datetime import datetime
from app.services.currencies import CurrencyCatalog
from app.services.export import ExportFormat, export_ledger
from app.storage.engine import create_engine
from app.storage.export import ExportFilter

async def main():
    engine = create_engine(sys.argv[1])
    which = ExportFilter(booked_before=datetime.fromisoformat(sys.argv[2]))
    entries = size = 0
    chunks = export_ledger(engine, CurrencyCatalog(engine), which, ExportFormat.JSONL)
    async for chunk, count in chunks:
        entries += count
        size += len(chunk)
    await engine.dispose()
    print(entries, size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

asyncio.run(main())
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from empty_database(request, tmp_path, "credits_export")


async def copy_ledger(engine: AsyncEngine) -> None:
    """COPIES more of the seeded ledger after itself, in one statement (the unique
    constraints are kept, so every copied id and sequence is checked)."""
    before, series, number, instant = COPY_SQL[engine.dialect.name]
    statement = text(
        f"{before} INSERT INTO ledger_entry (id, transaction_id, sequence, booked_at,"
        f" created_at, {COPIED}) SELECT 'ent_' || {number}, 'txn_' || {number},"
        f" sequence + {SHIFT}, {instant.format('booked_at')}, {instant.format('created_at')},"
        f" {COPIED} FROM ledger_entry{series} WHERE sequence <= {BASE}"
    )
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # the copies refer to rows the seed checked
            await connection.execute(text(NO_FOREIGN_KEY_TRIGGERS))
        # kept up row by row they took most of the copy's time; built after, the export
        # is planned over all of them, as in production
        for index in entries.indexes:
            await connection.run_sync(index.drop)
        await connection.execute(statement)
        for index in entries.indexes:
            await connection.run_sync(index.create)
    async with engine.connect() as connection:
        await connection.execute(text(SETTLE[engine.dialect.name]))
        await connection.commit()


async def export_in_a_process(url: str, before: datetime) -> tuple[int, int, int]:
    """Entries, characters and peak resident bytes of one export in a fresh process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", EXPORT, url, before.isoformat(), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    entries, size, peak = map(int, out.split())
    return entries, size, peak


async def test_the_exports_peak_memory_stays_flat_from_10_000_to_1_000_000_entries(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await seed(engine, SHAPE)
        await copy_ledger(engine)
    finally:
        await engine.dispose()
    # the seed books one entry a second from 1 s after its start, and so do the copies
    small, large = [
        await export_in_a_process(database_url, SHAPE.start + timedelta(seconds=n + 1))
        for n in (BASE, BASE * (COPIES + 1))
    ]
    print(f"{engine.dialect.name}: peak {small[2]} bytes at 10,000, {large[2]} at 1,000,000")
    assert (small[0], large[0]) == (BASE, BASE * (COPIES + 1))
    assert large[1] > 99 * small[1]  # a hundred times the text went through
    assert large[2] <= small[2] + MARGIN, f"peak {small[2]} bytes at 10,000, {large[2]} at 1M"
