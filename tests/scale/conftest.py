"""Scale-out on PostgreSQL: scratch databases migrated like a deployment (`app.storage.
migrations.upgrade`), and two real server processes on one, shared by a module's tests
(starting them is most of a test's time). Every test here needs PostgreSQL and is skipped
without CREDITS_TEST_POSTGRES_URL."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.storage import migrations
from tests.databases import empty_postgres_async
from tests.scale.support import Server, start_server, stop_server, until_listeners

SKIPPED = "CREDITS_TEST_POSTGRES_URL is not set: scale-out needs PostgreSQL (tests run in CI)"


@contextlib.asynccontextmanager
async def scratch_database(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own brought to the head revision, dropped afterwards."""
    async with empty_postgres_async(postgres_url, "credits_scale") as url:
        await asyncio.to_thread(migrations.upgrade, url)
        yield url


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    async with scratch_database(postgres_url) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster_database() -> AsyncIterator[str]:
    """One scratch database for a module's servers (each test uses customers of its own)."""
    postgres_url = os.environ.get("CREDITS_TEST_POSTGRES_URL")
    if not postgres_url:
        pytest.skip(SKIPPED)
    async with scratch_database(postgres_url) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers(cluster_database: str) -> AsyncIterator[tuple[Server, Server]]:
    """Two `credits serve` processes on the same database, each listening."""
    started: list[Server] = []
    try:
        for _ in range(2):
            started.append(await start_server(cluster_database))
        await until_listeners(cluster_database, 2)
        yield started[0], started[1]
    finally:
        await asyncio.gather(*(stop_server(server) for server in started))
