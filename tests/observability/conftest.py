"""An app on a real SQLite file, driven over HTTP in-process (the API tests' fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import Api, running_api


@pytest.fixture
async def api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    async with running_api(tmp_path, clock) as running:
        yield running
