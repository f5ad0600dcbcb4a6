"""On PostgreSQL a server's statements stop at the execution limit; the command line's do not."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli import with_engine
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.settings import Settings
from app.storage.engine import read_connection
from tests.scale.conftest import scratch_database

LIMIT = 0.5  # seconds


async def statement_timeout(engine: AsyncEngine) -> str:
    async with read_connection(engine) as connection:
        return str((await connection.execute(text("SHOW statement_timeout"))).scalar_one())


async def test_a_statement_slower_than_the_execution_limit_is_cancelled_by_postgresql(
    postgres_url: str, clock: FrozenClock
) -> None:
    async with scratch_database(postgres_url) as url:
        settings = Settings(database_url=url, scheduler_enabled=False, execution_timeout=LIMIT)
        app = create_app(settings, clock=clock, publisher=RecordingPublisher())
        async with app.router.lifespan_context(app):
            engine = app.state.runtime.engine
            assert await statement_timeout(engine) == "500ms"
            with pytest.raises(DBAPIError, match="statement timeout"):
                async with read_connection(engine) as connection:
                    await connection.execute(text("SELECT pg_sleep(5)"))
            async with read_connection(engine) as connection:  # the pool's connection is fine
                assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1

        async def command(engine: AsyncEngine) -> int:
            return 0 if await statement_timeout(engine) == "0" else 1

        # `credits verify` and `credits migrate` may run for minutes: no request limit
        assert await asyncio.to_thread(with_engine, settings, command) == 0
