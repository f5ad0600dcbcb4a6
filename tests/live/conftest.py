"""A server on a real loopback socket for each live test (uvicorn on port 0, in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.domain.time import FrozenClock
from tests.live.support import Live, serve


@pytest.fixture
async def live(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Live]:
    """The app served by uvicorn on 127.0.0.1 (port 0), shut down cleanly afterwards."""
    async with serve(tmp_path, clock) as running:
        yield running
