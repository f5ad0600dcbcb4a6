"""creditRevenue's statement, EXPLAINed on a seeded ledger: the report's entries are one range
of the `booked_at` index on both engines, never the whole ledger, and both engines answer
the same. Two in three of the seed's grants are bought in USD, at two cost bases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event

import app.services.revenue as revenue_service
from app.domain.revenue import RevenueInterval
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.revenue import RevenueReport, credit_revenue
from app.services.runtime import Runtime
from app.storage.engine import create_engine
from app.storage.queries.revenue import Anchor
from app.storage.seed import Shape
from tests.storage.support import seeded_postgres, seeded_sqlite, seeding

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHAPE = Shape(customers=40, grants=10, entries=20, big_entries=0)
# The seed books customer n's 200 entries a second apart from START + n minutes (40
# customers): a report of four minutes holds about a tenth of them. Each way to the opening
# deferred figure is asked where it is the cheaper one, as the service would choose it:
# the entries before the report near the ledger's start, the grants less the entries
# since near its end.
MINUTES = {Anchor.LEDGER: (4, 8), Anchor.GRANTS: (36, 40)}
Statement = tuple[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return await seeded_sqlite(tmp_path_factory.mktemp("revenue"), seeding(SHAPE))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def postgres_url() -> AsyncIterator[str]:
    async with seeded_postgres(seeding(SHAPE)) as url:
        yield url


async def report(
    url: str, anchor: Anchor, minutes: tuple[int, int] = (18, 22)
) -> tuple[RevenueReport, Statement]:
    """The report by day of those minutes of the ledger and the statement that summed it."""
    starts, ends = (SHAPE.start + timedelta(minutes=m) for m in minutes)
    engine = create_engine(url)
    seen: list[Statement] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    clock = FrozenClock(SHAPE.after)
    runtime = Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(revenue_service, "_cheaper_anchor", lambda *_: anchor)
            found = await credit_revenue(
                runtime, currency="USD", starts=starts, ends=ends, interval=RevenueInterval.DAY
            )
    finally:
        await engine.dispose()
    [summed] = [s for s in seen if "credit_grant.cost_basis" in s[0]]
    return found, summed


async def explain(url: str, statement: Statement) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement[0]}", statement[1]
                )
                return [row[-1] for row in rows]
            rows = await connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) {statement[0]}", statement[1]
            )
            plan = rows.scalar_one()
            return json.loads(plan) if isinstance(plan, str) else plan
    finally:
        await engine.dispose()


def postgres_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += postgres_nodes(child)
    return found


async def test_the_report_reads_a_range_of_the_booked_at_index_on_sqlite(sqlite_url: str) -> None:
    for anchor in Anchor:
        _, statement = await report(sqlite_url, anchor, MINUTES[anchor])
        details = await explain(sqlite_url, statement)
        report_range = (
            "SEARCH ledger_entry USING INDEX ix_ledger_booked (booked_at>? AND booked_at<?)"
        )
        assert report_range in details
        assert [d for d in details if d.startswith("SCAN ledger_entry")] == []
        other = "booked_at<?)" if anchor is Anchor.LEDGER else "booked_at>?)"
        assert f"SEARCH ledger_entry USING INDEX ix_ledger_booked ({other}" in details, details


async def test_the_report_reads_a_range_of_the_booked_at_index_on_postgresql(
    postgres_url: str,
) -> None:
    for anchor in Anchor:
        _, statement = await report(postgres_url, anchor, MINUTES[anchor])
        [plan] = await explain(postgres_url, statement)
        nodes = postgres_nodes(plan["Plan"])
        on_ledger = [n for n in nodes if n.get("Relation Name") == "ledger_entry"]
        assert [n["Node Type"] for n in on_ledger if n["Node Type"] == "Seq Scan"] == []
        ranges = [n for n in nodes if n.get("Index Name") == "ix_ledger_booked"]
        assert any("booked_at >=" in n["Index Cond"] and "booked_at <" in n["Index Cond"]
                   for n in ranges), anchor  # fmt: skip


async def test_both_engines_and_both_anchors_answer_the_same(
    sqlite_url: str, postgres_url: str
) -> None:
    answers = [
        (await report(url, anchor))[0] for url in (sqlite_url, postgres_url) for anchor in Anchor
    ]
    assert answers[1:] == answers[:-1]
    [period] = answers[0].periods
    assert period.recognized > 0 and period.deferred_at_end > 0
