"""Seeded databases, cached between runs and copied for each run (runs write to them).

A cached database is keyed by the engine, the shape and the schema revision; it is made
by `credits`' own migrations, `app.storage.seed` and checked by `verify` before it is kept.
SQLite: files under `.bench-cache/`; PostgreSQL: databases `credits_bench_<key>` beside
the one CREDITS_TEST_POSTGRES_URL names, each run working in a copy (CREATE DATABASE …
TEMPLATE) named for its process, so runs at the same time never drop each other's copy;
a copy whose process has ended is removed by the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.services.verify import verify
from app.storage import bulk, migrations
from app.storage import seed as seed_module
from app.storage.engine import create_engine, is_sqlite
from app.storage.seed import Shape, seed
from app.storage.tables import metadata

CURRENCIES = ("USD", "EUR")
SPARE = 10**9  # every grant keeps this much, so consumption never runs dry
SHAPES = {
    "full": Shape(10_000, 10, 10, 1_000_000, 1_000, SPARE, CURRENCIES),
    "quick": Shape(500, 10, 10, 100_000, 1_000, SPARE, CURRENCIES),
    "tiny": Shape(60, 4, 5, 400, 100, SPARE, CURRENCIES),
}
CACHE = Path(".bench-cache")
RUN = "credits_bench_run"  # a run's copy: RUN_<pid>


def cache_key(shape: Shape, engine: str) -> str:
    """Changes with the shape, the migrations' head, the tables' columns (a column added
    before its migration is written changes it too) and the seeding code."""
    columns = [(t.name, [(c.name, str(c.type)) for c in t.columns]) for t in metadata.sorted_tables]
    code = [Path(module.__file__ or "").read_bytes() for module in (seed_module, bulk)]
    described = repr((engine, astuple(shape), migrations.head_revision(), columns, code))
    return hashlib.sha256(described.encode()).hexdigest()[:12]


async def prepare(
    base_url: str, shape: Shape, cache: Path = CACHE, run: str | None = None
) -> tuple[str, list[str]]:
    """A fresh copy, named `run` (default: this process's), of the cached seeded database
    for `base_url`'s engine; and notes on how it was made."""
    run = run or f"{RUN}_{os.getpid()}"
    if is_sqlite(base_url):
        return await _prepare_sqlite(shape, cache, run)
    return await _prepare_postgres(base_url, shape, run)


async def _seed_and_verify(url: str, shape: Shape) -> list[str]:
    """In a process of its own: the engines' databases are made at the same time, and the
    seeding is mostly Python."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, _seed_and_verify_here, url, shape)


def _seed_and_verify_here(url: str, shape: Shape) -> list[str]:
    return asyncio.run(_seeded_and_verified(url, shape))


async def _seeded_and_verified(url: str, shape: Shape) -> list[str]:
    started = time.perf_counter()
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(url)
    try:
        await seed(engine, shape)
        seeded = time.perf_counter()
        problems = await verify(engine)
    finally:
        await engine.dispose()
    if problems:
        raise RuntimeError(f"the seeded database does not verify: {problems[:5]}")
    return [
        f"seeded in {seeded - started:.1f} s, `credits verify` clean in "
        f"{time.perf_counter() - seeded:.1f} s"
    ]


async def _prepare_sqlite(shape: Shape, cache: Path, name: str) -> tuple[str, list[str]]:
    kept = cache / f"sqlite-{cache_key(shape, 'sqlite')}.db"
    notes = ["seeded database from the cache"]
    if not await asyncio.to_thread(kept.exists):
        making = kept.with_suffix(".making")
        await asyncio.to_thread(_remove, making)
        notes = await _seed_and_verify(f"sqlite:///{making}", shape)
        await asyncio.to_thread(making.rename, kept)  # its WAL was checkpointed at close
    run = cache / f"{name}.db"
    for stale in await asyncio.to_thread(lambda: [*cache.glob(f"{RUN}*.db"), run]):
        if stale == run or _ended(stale.stem):
            await asyncio.to_thread(_remove, stale)
    await asyncio.to_thread(shutil.copyfile, kept, run)
    return f"sqlite:///{run.resolve()}", notes


def _ended(name: str) -> bool:
    """Whether `name` is a run's copy left by a process that has ended."""
    found = re.fullmatch(rf"{RUN}_(\d+)", name)
    return found is not None and not os.path.exists(f"/proc/{found[1]}")


def _remove(database: Path) -> None:
    """A database file and its WAL files, if there; makes the folder it would be in."""
    database.parent.mkdir(parents=True, exist_ok=True)
    for path in database.parent.glob(f"{database.name}*"):
        path.unlink()


async def _prepare_postgres(base_url: str, shape: Shape, run: str) -> tuple[str, list[str]]:
    key = cache_key(shape, "postgresql")
    kept, making = f"credits_bench_{key}", f"credits_bench_{key}_making"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    notes = ["seeded database from the cache"]
    try:
        async with admin.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": kept}
            )
            if not found:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{making}" WITH (FORCE)'))
                await connection.execute(text(f'CREATE DATABASE "{making}"'))
        if not found:
            notes = await _seed_and_verify(database(base_url, making), shape)
            async with admin.connect() as connection:
                await connection.execute(text(f'ALTER DATABASE "{making}" RENAME TO "{kept}"'))
        async with admin.connect() as connection:
            copies = await connection.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :like"),
                {"like": f"{RUN}%"},
            )
            for stale in [name for name in copies if name == run or _ended(name)]:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{run}" TEMPLATE "{kept}"'))
    finally:
        await admin.dispose()
    return database(base_url, run), notes


def database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def drop(base_url: str, name: str) -> None:
    """Drop a run's PostgreSQL database (a run's SQLite copy is simply overwritten)."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
