"""An app on a real SQLite file, driven over HTTP in-process with its lifespan entered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.settings import Settings
from app.storage.engine import create_engine
from app.storage.tables import metadata

START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class Api:
    """A GraphQL client for tests: `await api(query, **variables)` returns the data."""

    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.app = app
        self.statements: list[str] = []

    async def raw(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        return body

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.raw(query, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def count_statements(self) -> None:
        engine = self.app.state.runtime.engine

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def count(*args: Any) -> None:
            self.statements.append(args[2])


async def create_schema(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@asynccontextmanager
async def running_api(tmp_path: Path, clock: FrozenClock, **settings: Any) -> AsyncIterator[Api]:
    url = f"sqlite:///{tmp_path}/credits.db"
    await create_schema(url)
    configured = Settings(database_url=url, scheduler_enabled=False, **settings)
    app = create_app(configured, clock=clock, publisher=RecordingPublisher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app)


@pytest.fixture
async def api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    async with running_api(tmp_path, clock) as running:
        yield running
