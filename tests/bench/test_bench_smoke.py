"""The benchmark's pieces on a tiny shape, in-process: the seeded database verifies clean,
the floor answers exactly what the server does, and every measurement returns figures
of the shape the report reads. Nothing here is timed: the figures are only counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from benchmark import measure
from benchmark.floor import create_floor
from benchmark.live import fan_out
from benchmark.measure import Timing
from benchmark.servers import serving as serving_processes
from sqlalchemy import func, select

from app.main import create_app
from app.services.verify import verify
from app.settings import Settings
from app.storage.engine import create_engine
from app.storage.seed import seed_id
from app.storage.tables import consumptions, customers, entries
from tests.bench.conftest import SHAPE

pytestmark = pytest.mark.asyncio(loop_scope="module")  # one seeded database per engine

TIMING = Timing(seconds=0.2, rounds=1)
FEW = (1, 3)  # clients: the benchmark's 16 and 64 would only make these tests slow


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """`app` on a loopback port of this process."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers(run_url: str) -> AsyncIterator[tuple[str, str]]:
    app = create_app(Settings(database_url=run_url, scheduler_enabled=False))
    async with serving(app) as server, serving(create_floor(run_url)) as floor:
        yield server, floor


def answered_every_request(results: measure.Results, targets: set[str]) -> None:
    for name, got in results.items():
        assert set(got) == targets, name
        for target, stats in got.items():
            assert stats.latencies and stats.failures == 0, (name, target, stats.failures)


async def test_the_seeded_database_has_the_shape_and_verifies_clean(run_url: str) -> None:
    engine = create_engine(run_url)
    try:
        async with engine.connect() as connection:
            people = await connection.scalar(select(func.count()).select_from(customers))
            booked = await connection.scalar(select(func.count()).select_from(entries))
            span = select(func.min(entries.c.booked_at), func.max(entries.c.booked_at))
            first, last = (await connection.execute(span)).one()
        assert (people, booked) == (60 + 2, 60 * 4 * 5 + 400 + 100)
        assert await verify(engine) == []
        # the revenue row's year: twelve months, the last holding every seeded entry
        starts, ends = measure.revenue_year(SHAPE)
        assert (ends - starts).days == 365 and starts.day == ends.day == 1
        assert starts <= first.replace(tzinfo=UTC) and last.replace(tzinfo=UTC) < ends
    finally:
        await engine.dispose()


async def test_the_floor_and_the_naive_chain_answer_what_the_server_answers(
    servers: tuple[str, str],
) -> None:
    assert await measure.same_dashboard(*servers)


async def test_the_dashboard_is_measured_at_each_concurrency(servers: tuple[str, str]) -> None:
    results = await measure.dashboard(*servers, TIMING, FEW)

    assert set(results) == {"dashboard x1", "dashboard x3"}
    answered_every_request({"x1": results["dashboard x1"]}, {"graphql", "floor", "naive"})
    answered_every_request({"x3": results["dashboard x3"]}, {"graphql", "floor"})


async def test_consumption_is_measured_spread_and_hot_at_each_concurrency(
    servers: tuple[str, str],
) -> None:
    results = await measure.consumption(*servers, SHAPE, TIMING, FEW)

    assert set(results) == {
        f"consume {spread} x{clients}" for spread in ("spread", "hot") for clients in FEW
    }
    answered_every_request(results, {"graphql", "floor"})


async def test_balances_are_measured_now_and_at_a_past_instant(servers: tuple[str, str]) -> None:
    results = await measure.balances(servers[0], SHAPE, TIMING)

    assert set(results) == {"balance x1"}
    answered_every_request(results, {"medium now", "big now", "medium at", "big at"})


async def test_the_fan_out_times_every_delivery(run_url: str) -> None:
    results = await fan_out(run_url, subscribers=5, mutations=2)

    assert len(results["live"]["each"].latencies) == 5 * 2
    assert len(results["live"]["last"].latencies) == 2


async def test_revenue_is_measured_over_a_year(servers: tuple[str, str]) -> None:
    results = await measure.revenue(servers[0], SHAPE, TIMING)

    answered_every_request(results, {"revenue"})


async def test_the_chain_is_measured_against_the_server_without_it(run_url: str) -> None:
    async with serving_processes(run_url, "credits", "unchained") as up:
        results = await measure.chain(up["credits"], up["unchained"], SHAPE, TIMING)

    answered_every_request(results, {"chained", "unchained"})
    half = SHAPE.customers // 2
    engine = create_engine(run_url)
    try:
        async with engine.connect() as connection:
            booked = select(entries.c.customer_id, entries.c.hash).where(
                entries.c.consumption_id.in_(
                    select(consumptions.c.id).where(consumptions.c.key.like("chain x16-%"))
                )
            )
            hashes = (await connection.execute(booked)).all()
    finally:
        await engine.dispose()
    chained = {seed_id("customer", n) for n in range(half)}
    assert {len(row.hash) for row in hashes if row.customer_id in chained} == {64}
    assert {row.hash for row in hashes if row.customer_id not in chained} == {""}
