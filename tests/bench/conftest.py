"""The benchmark's modules live in scripts/ (a tool, not the app): importable from here.
`run_url`: a copy of the tiny seeded database per engine, for a test module."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from ulid import ULID

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from benchmark.data import SHAPES, drop, prepare  # noqa: E402  (needs SCRIPTS on the path)

SHAPE = SHAPES["tiny"]  # 60 customers x 4 grants x 5 entries, then 400 and 100 entries


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def run_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url, _ = await prepare("sqlite://", SHAPE, cache=tmp_path_factory.mktemp("bench"))
        yield url
        return
    base = os.environ.get("CREDITS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("CREDITS_TEST_POSTGRES_URL is not set: PostgreSQL tests run in CI")
    name = f"credits_bench_test_{str(ULID()).lower()}"
    url, _ = await prepare(base, SHAPE, run=name)
    yield url
    await drop(base, name)
