"""Seeded databases for the plan tests, migrated like a deployment and kept for a module."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.storage import migrations
from app.storage.engine import create_engine
from app.storage.seed import Shape, seed
from tests.scale.conftest import scratch_database

Fill = Callable[[str], Awaitable[None]]


async def seeded_sqlite(folder: Path, fill: Fill) -> str:
    """A SQLite file in `folder`, migrated to head, then filled by `fill(url)`."""
    url = f"sqlite:///{folder / 'credits.db'}"
    await asyncio.to_thread(migrations.upgrade, url)
    await fill(url)
    return url


@asynccontextmanager
async def seeded_postgres(fill: Fill) -> AsyncIterator[str]:
    """A scratch PostgreSQL database migrated to head and filled by `fill(url)`, dropped
    afterwards; the test is skipped without CREDITS_TEST_POSTGRES_URL."""
    server = os.environ.get("CREDITS_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("CREDITS_TEST_POSTGRES_URL is not set: PostgreSQL tests run in CI")
    async with scratch_database(server) as url:
        await fill(url)
        yield url


def seeding(shape: Shape) -> Fill:
    """A fill writing the seed (app/storage/seed.py) of `shape`."""

    async def fill(url: str) -> None:
        engine = create_engine(url)
        try:
            await seed(engine, shape)
        finally:
            await engine.dispose()

    return fill
