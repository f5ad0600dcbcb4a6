"""`both` (a service runtime on SQLite, then PostgreSQL) and a real receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.services.conftest import both
from tests.storage.test_postgres import pg_runtime
from tests.webhooks.support import Receiver

__all__ = ["both", "pg_runtime"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver.running() as running:
        yield running
