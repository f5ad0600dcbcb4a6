"""A dashboard query's SQL statement count does not grow with its page sizes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from app.api.compiled.native import Run
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from app.settings import Settings
from app.storage.engine import create_engine
from app.storage.seed import Shape
from app.storage.seed import seed as seed_shape
from tests.api.conftest import Api, create_schema, running_api
from tests.databases import empty_postgres_async

DASHBOARD = """
query Dashboard($n: Int!) {
  customers(first: $n) { edges { node {
    creditBalances { available }
    creditGrants(first: $n) { edges { node {
      remaining
      ledgerEntries(first: $n) { edges { node { amount grant { id } } } }
    } } }
  } } }
}
"""


async def seed(api: Api, customers: int, grants: int, draws: int) -> None:
    runtime = api.app.state.runtime
    for c in range(customers):
        customer_id, _ = await create_customer(runtime, key=f"c{c}", name=f"Customer {c}")
        for g in range(grants):
            request = GrantRequest(
                customer_id=customer_id, name=f"g{g}", currency="USD", amount=Decimal(100)
            )
            await grant_promotional_credits(runtime, actor=OPEN, request=request)
        for d in range(draws):
            draw = ConsumeRequest(
                customer_id=customer_id, key=f"d{d}", currency="USD", amount=Decimal(10)
            )
            await consume_credits(runtime, actor=OPEN, request=draw)


def selects(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH")))


@pytest.fixture
async def roomy_api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    """Page sizes of 50 at three levels cost 252,600: over the default cost limit."""
    async with running_api(tmp_path, clock, max_cost=1_000_000) as api:
        yield api


async def test_the_dashboard_query_runs_the_same_few_statements_at_any_page_size(
    roomy_api: Api,
) -> None:
    api = roomy_api
    await seed(api, customers=7, grants=8, draws=10)
    await api("{ __typename }")  # OPEN mode is known from here on: no statement per request
    api.count_statements()
    counts = []
    sizes = {}
    for n in (5, 50):
        api.statements.clear()
        data = await api(DASHBOARD, n=n)
        counts.append((selects(api.statements), len(api.statements)))
        edges = data["customers"]["edges"]
        sizes[n] = (
            len(edges),
            len(edges[0]["node"]["creditGrants"]["edges"]),
            len(edges[0]["node"]["creditGrants"]["edges"][0]["node"]["ledgerEntries"]["edges"]),
        )
    assert sizes == {5: (5, 5, 5), 50: (7, 8, 11)}
    # Customers, which of the page's customers have
    # events due (checked once for balances and grants, nothing is due: no write),
    # balances (ledger + pending), grants, entries; the entries' grants were loaded
    # already: no statement
    assert counts[0] == counts[1]
    assert counts[0][0] == 6


# ---- the native lane's statements, EXPLAINed: each walks an index, none reads a table whole

PLANNED = """
query Planned($c: String, $e: String) {
  customers(first: 5, after: $c) { totalCount pageInfo { endCursor } edges { cursor node { id
    creditBalances { currency available }
    creditGrants(last: 3) { totalCount edges { cursor node { id remaining
      ledgerEntries(first: 4, after: $e) { totalCount pageInfo { hasNextPage }
        edges { cursor node { amount grant { id } customer { id } } } }
    } } }
    creditLedger(last: 2) { totalCount edges { node { id grant { name } } } }
  } } }
}
"""
PLAN_SHAPE = Shape(customers=30, grants=4, entries=6, big_entries=300, currencies=("USD", "EUR"))
WHOLE = ("ledger_entry", "credit_grant")


async def planned_statements(url: str) -> list[tuple[str, Any]]:
    """Every statement the native lane runs for PLANNED, first page and after cursors."""
    engine = create_engine(url)
    try:
        await seed_shape(engine, PLAN_SHAPE)
    finally:
        await engine.dispose()
    settings = Settings(database_url=url, scheduler_enabled=False, max_cost=10_000_000)
    app = create_app(settings, clock=FrozenClock(PLAN_SHAPE.after), publisher=RecordingPublisher())
    seen: list[tuple[str, Any]] = []
    lane: list[Any] = []  # what the native lane ran, in its SQLAlchemy form
    real_rows = Run.rows

    async def rows(self: Run, statement: Any, parameters: dict[str, Any]) -> list[Any]:
        lane.append(statement)
        return await real_rows(self, statement, parameters)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Run, "rows", rows)
        async with app.router.lifespan_context(app):

            @event.listens_for(app.state.runtime.engine.sync_engine, "before_cursor_execute")
            def capture(
                _c: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: Any
            ) -> None:
                compiled = getattr(context, "compiled", None)
                if compiled is not None and any(compiled.statement is s for s in lane):
                    seen.append((statement, parameters))

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                first = await post(client, {})
                customer = first["customers"]["edges"][0]
                entry = customer["node"]["creditGrants"]["edges"][0]["node"]["ledgerEntries"]
                cursors = {"c": customer["cursor"], "e": entry["edges"][0]["cursor"]}
                second = await post(client, cursors)
    assert len(second["customers"]["edges"]) == 5
    assert len(seen) == len(lane) == 2 * 9  # 5 levels (customers, grants, entries, the
    # customers' ledgers and the ledgers' grants not loaded yet) and 4 counts, per request
    return seen


async def post(client: httpx.AsyncClient, variables: dict[str, Any]) -> dict[str, Any]:
    body = (await client.post("/graphql", json={"query": PLANNED, "variables": variables})).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_the_native_lane_reads_no_table_whole_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plans.db"
    await create_schema(url)
    statements = await planned_statements(url)
    engine = create_engine(url)
    whole = re.compile(r"^SCAN (ledger_entry|credit_grant|page_row)\b")
    found = {}
    try:
        async with engine.connect() as connection:
            for statement, parameters in statements:
                plan = await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters
                )
                found[statement] = [row[-1] for row in plan if whole.match(row[-1])]
    finally:
        await engine.dispose()
    assert len(found) == 11  # customers and entries with and without a cursor bound
    assert {s[:120]: d for s, d in found.items() if d} == {}


async def test_the_native_lane_reads_no_table_whole_on_postgresql(postgres_url: str) -> None:
    async with empty_postgres_async(postgres_url, "credits_test") as url:
        await create_schema(url)
        statements = await planned_statements(url)
        engine = create_engine(url)
        found = {}
        try:
            async with engine.connect() as connection:
                # Tiny tables: without this PostgreSQL rightly prefers reading them whole; with
                # it, a table read whole (or an index walked without a condition) means there
                # was no index path at all.
                await connection.exec_driver_sql("SET enable_seqscan = off")
                for statement, parameters in statements:
                    explained = await connection.exec_driver_sql(
                        f"EXPLAIN (FORMAT JSON) {statement}", parameters
                    )
                    plan = explained.scalar_one()
                    tree = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
                    found[statement] = whole_reads(tree)
        finally:
            await engine.dispose()
    assert len(found) == 11  # customers and entries with and without a cursor bound
    assert {s[:120]: d for s, d in found.items() if d} == {}


def whole_reads(node: dict[str, Any]) -> list[str]:
    """Nodes that read ledger_entry or credit_grant whole: a sequential scan, or an index
    walked with no condition."""
    found = []
    if node.get("Relation Name") in WHOLE:
        scanned = node["Node Type"] == "Seq Scan"
        unbounded = "Index" in node["Node Type"] and "Index Cond" not in node
        if scanned or unbounded:
            found.append(f"{node['Node Type']} on {node['Relation Name']}")
    for child in node.get("Plans", []):
        found += whole_reads(child)
    return found
