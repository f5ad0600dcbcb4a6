"""Scale-out on PostgreSQL: a scratch database migrated like a deployment (`app.storage.
migrations.upgrade`), and two real server processes on it. Every test here needs
PostgreSQL and is skipped without CREDITS_TEST_POSTGRES_URL (see tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from ulid import ULID

from app.storage import migrations
from app.storage.engine import create_engine
from tests.scale.support import Server, start_server, stop_server, until_listeners


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A scratch database brought to the head revision, dropped afterwards."""
    name = f"credits_scale_{str(ULID()).lower()}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def servers(database_url: str) -> AsyncIterator[tuple[Server, Server]]:
    """Two `credits serve` processes on the same database, each listening."""
    started: list[Server] = []
    try:
        for _ in range(2):
            started.append(await start_server(database_url))
        await until_listeners(database_url, 2)
        yield started[0], started[1]
    finally:
        await asyncio.gather(*(stop_server(server) for server in started))
