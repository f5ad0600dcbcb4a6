"""Shared fixtures: a frozen clock, a real SQLite file with the tables, and a service runtime.

Hypothesis runs under a profile chosen by HYPOTHESIS_PROFILE: `ci` (the default) is a
fixed, derandomized budget, the same examples on every run; `deep` draws new examples
each run, 20 times as many. A test with a budget of its own states it with `examples()`,
which scales with the profile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.storage.engine import create_engine
from app.storage.tables import metadata
from tests.databases import empty_postgres

START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

CI_EXAMPLES = 100
DEEP_FACTOR = 20
# No deadline in either: timing on a shared CI machine is not a property of the code.
settings.register_profile(
    "ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, deadline=None
)
settings.register_profile(
    "deep", max_examples=CI_EXAMPLES * DEEP_FACTOR, derandomize=False, deadline=None
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(ci: int) -> int:
    """A test's own example budget: `ci` under the ci profile, scaled like the loaded one."""
    return ci * settings().max_examples // CI_EXAMPLES


MakeCustomer = Callable[..., Awaitable[str]]


@pytest.fixture
def clock() -> FrozenClock:
    """Time stands still at START until a test moves it."""
    return FrozenClock(START)


async def create_sqlite_engine(path: Path) -> AsyncEngine:
    """A real SQLite file (WAL, IMMEDIATE writes) with every table created."""
    engine = create_engine(f"sqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await create_sqlite_engine(tmp_path / "credits.db")
    yield engine
    await engine.dispose()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def runtime(engine: AsyncEngine, clock: FrozenClock, publisher: RecordingPublisher) -> Runtime:
    return Runtime(engine, clock, CurrencyCatalog(engine), publisher)


@pytest.fixture
def make_customer(runtime: Runtime) -> MakeCustomer:
    """`await make_customer()` creates a customer with a fresh key and returns its id."""
    made = 0

    async def make(key: str | None = None, name: str = "Acme") -> str:
        nonlocal made
        made += 1
        customer_id, _ = await create_customer(runtime, key=key or f"customer-{made}", name=name)
        return customer_id

    return make


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("CREDITS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CREDITS_TEST_POSTGRES_URL is not set: PostgreSQL tests run in CI")
    return url


# Tests that measure latency: `scripts/test` runs them alone after the rest, which runs on
# two pytest-xdist workers (2 cores here), so no other test takes their CPU.
SERIAL = ("tests/live/test_many_subscriptions.py",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: minutes, not seconds (the 1,000,000-entry export): scripts/test runs "
        "it; `-m 'not slow'` leaves it out of a local run",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix()
        if path.startswith(SERIAL):
            item.add_marker(pytest.mark.serial)


def empty_database(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> Iterator[str]:
    """The URL of an empty database with the tables, by `request.param`: a SQLite file in
    the test's folder, or a scratch PostgreSQL database named `prefix_<hex>`, dropped after."""
    if request.param == "sqlite":
        path = tmp_path / "credits.db"
        asyncio.run(_dispose(create_sqlite_engine(path)))
        yield f"sqlite:///{path}"
        return
    with empty_postgres(request.getfixturevalue("postgres_url"), prefix) as url:
        asyncio.run(_create_tables(url))
        yield url


async def _dispose(made: Awaitable[AsyncEngine]) -> None:
    await (await made).dispose()


async def _create_tables(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()
