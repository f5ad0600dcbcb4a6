"""The dashboard's statements, EXPLAINed on a seeded database of a realistic shape.

200 customers x 10 grants x 20 entries in two currencies, and one customer with 20,000
entries of its own (`app.storage.seed`), migrated like a deployment. The statements are
the ones the real loaders run for the dashboard and for pages in every grant order, both
directions, after a cursor and of customers' whole ledgers, captured while the app answers
them. PostgreSQL once planned a per-parent page as a nested loop over every ledger row x
every parent (10.7 s for 5 customers here): no plan may scan those tables whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import event

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.services.verify import verify
from app.settings import Settings
from app.storage.balances import read_balance, read_balances
from app.storage.engine import create_engine, read_connection
from app.storage.seed import Shape, seed
from tests.storage.support import seeded_postgres, seeded_sqlite

pytestmark = pytest.mark.asyncio(loop_scope="module")  # the seeded databases are the module's

SHAPE = Shape(customers=200, grants=10, entries=20, big_entries=20_000, currencies=("USD", "EUR"))
WHOLE = {"ledger_entry", "credit_grant", "scope_figure"}  # tables no plan may read whole

DASHBOARD = """
query Dashboard {
  customers(first: 50) { edges { cursor node { id
    creditBalances { currency available }
    creditGrants(first: 20) { pageInfo { hasNextPage } edges { cursor node { id remaining
      ledgerEntries(first: 10) {
        pageInfo { hasNextPage hasPreviousPage }
        edges { cursor node { id amount type bookedAt } }
      }
    } } }
  } } }
}
"""
IDS = "edges { cursor node { id } }"
PAGES = f"""
query Pages($entryAfter: String!) {{
  customers(last: 3) {{ edges {{ node {{ id
    effective: creditGrants(first: 3, orderBy: {{field: EFFECTIVE_AT, direction: DESC}}) {{ {IDS} }}
    priority: creditGrants(first: 3, orderBy: {{field: PRIORITY}}) {{ {IDS} }}
    expires: creditGrants(first: 3, orderBy: {{field: EXPIRES_AT}}) {{ {IDS} }}
    burn: creditGrants(first: 3, orderBy: {{field: BURN_ORDER}}) {{ {IDS} }}
    newest: creditGrants(last: 3) {{ edges {{ cursor node {{ id
      older: ledgerEntries(first: 4, after: $entryAfter) {{ {IDS} }}
      oldest: ledgerEntries(last: 4) {{ {IDS} }}
    }} }} }}
    creditLedger(first: 5) {{ {IDS} }}
    firstEntries: creditLedger(last: 5) {{ {IDS} }}
  }} }} }}
}}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return await seeded_sqlite(tmp_path_factory.mktemp("plans"), seeded)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """A scratch database of its own, migrated, seeded and ANALYZEd, dropped afterwards."""
    async with seeded_postgres(seeded) as url:
        yield url


async def seeded(url: str) -> None:
    engine = create_engine(url)
    try:
        await seed(engine, SHAPE)
        assert await verify(engine) == []
    finally:
        await engine.dispose()


Statement = tuple[str, Any]


async def answer(
    url: str, document: str, **variables: Any
) -> tuple[dict[str, Any], list[Statement]]:
    """The data of `document` from a server on `url`, and every SELECT it ran."""
    settings = Settings(database_url=url, scheduler_enabled=False, max_cost=10_000_000)
    app = create_app(settings, clock=FrozenClock(SHAPE.after), publisher=RecordingPublisher())
    seen: list[Statement] = []
    async with app.router.lifespan_context(app):

        @event.listens_for(app.state.runtime.engine.sync_engine, "before_cursor_execute")
        def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                seen.append((statement, parameters))

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = (
                await client.post("/graphql", json={"query": document, "variables": variables})
            ).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data, seen


async def both_documents(url: str) -> tuple[dict[str, Any], dict[str, Any], list[Statement]]:
    dashboard, first = await answer(url, DASHBOARD)
    grant = dashboard["customers"]["edges"][0]["node"]["creditGrants"]["edges"][0]["node"]
    after = grant["ledgerEntries"]["edges"][4]["cursor"]
    pages, second = await answer(url, PAGES, entryAfter=after)
    return dashboard, pages, first + second


async def explain(url: str, statements: list[Statement]) -> list[tuple[str, Any]]:
    """Each statement with its plan: PostgreSQL's JSON tree, SQLite's detail lines."""
    engine = create_engine(url)
    plans = []
    try:
        async with engine.connect() as connection:
            for statement, parameters in statements:
                if engine.dialect.name == "postgresql":
                    found = await connection.exec_driver_sql(
                        f"EXPLAIN (FORMAT JSON) {statement}", parameters
                    )
                    plan = found.scalar_one()
                    plans.append((statement, json.loads(plan) if isinstance(plan, str) else plan))
                else:
                    found = await connection.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN {statement}", parameters
                    )
                    plans.append((statement, [row[-1] for row in found]))
    finally:
        await engine.dispose()
    return plans


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def whole_table(node: dict[str, Any]) -> str | None:
    """The table a node reads whole (through a Materialize, too), if it does."""
    while node["Node Type"] == "Materialize":
        node = node["Plans"][0]
    return node.get("Relation Name") if node["Node Type"] == "Seq Scan" else None


def postgres_problems(plan: dict[str, Any]) -> list[str]:
    problems = []
    for node in nodes(plan):
        table = whole_table(node)
        if table in WHOLE:
            problems.append(f"Seq Scan on {table}")
        if node["Node Type"] == "Nested Loop":  # its inner side runs once per outer row
            problems += [
                f"Nested Loop over all of {t}" for t in map(whole_table, node["Plans"][1:]) if t
            ]
    return problems


def sorted_pages(plans: list[tuple[str, Any]], sorts: Any) -> list[str]:
    """Per-parent pages that sort a parent's rows instead of walking an index in order.

    Not EXPIRES_AT: its key is an expression (expiry or never), so it reads the
    customer's grants by index and sorts them: bounded by one customer's grants."""
    return [
        s[:200]
        for s, plan in plans
        if "page_row" in s and "coalesce(credit_grant.expires_at" not in s and sorts(plan)
    ]


async def test_the_dashboard_answers_on_postgresql_with_full_pages_and_the_same_as_sqlite(
    postgres_url: str, sqlite_url: str
) -> None:
    on_postgres = await both_documents(postgres_url)
    on_sqlite = await both_documents(sqlite_url)

    customers = on_postgres[0]["customers"]["edges"]
    grants = [g["node"] for c in customers for g in c["node"]["creditGrants"]["edges"]]
    pages = [g["ledgerEntries"] for g in grants]
    assert (len(customers), len(grants), sum(len(p["edges"]) for p in pages)) == (50, 500, 5000)
    assert {len(p["edges"]) for p in pages} == {10}
    assert {(p["pageInfo"]["hasNextPage"], p["pageInfo"]["hasPreviousPage"]) for p in pages} == {
        (True, False)
    }
    big = on_postgres[1]["customers"]["edges"][-1]["node"]
    assert [len(big[k]["edges"]) for k in ("effective", "burn", "creditLedger")] == [3, 3, 5]
    assert on_postgres[:2] == on_sqlite[:2]  # same rows, order and cursors on both engines


async def test_no_postgresql_plan_reads_the_ledger_or_the_grants_whole(postgres_url: str) -> None:
    _, _, statements = await both_documents(postgres_url)
    plans = await explain(postgres_url, statements)
    found = {}
    for statement, [plan] in plans:
        problems = postgres_problems(plan["Plan"])
        if problems:
            found[statement[:200]] = problems
    assert found == {}
    laterals = [s for s, _ in plans if "JOIN LATERAL" in s]
    # each per-parent page: the dashboard's grants and entries; grants in 5 orders and
    # directions, entries of grants after a cursor and backwards, customers' ledgers both ways
    assert len(laterals) == 11

    def sorts_below_a_limit(plan: list[dict[str, Any]]) -> bool:
        limits = [n for n in nodes(plan[0]["Plan"]) if n["Node Type"] == "Limit"]
        return any(n["Node Type"] == "Sort" for limit in limits for n in nodes(limit))

    assert sorted_pages(plans, sorts_below_a_limit) == []


async def test_no_sqlite_plan_scans_the_ledger_or_the_grants(sqlite_url: str) -> None:
    _, _, statements = await both_documents(sqlite_url)
    plans = await explain(sqlite_url, statements)
    scan = re.compile(r"^SCAN (ledger_entry|credit_grant|page_row)\b")
    found = {s[:200]: [d for d in details if scan.match(d)] for s, details in plans}
    assert {s: d for s, d in found.items() if d} == {}
    # one sort, of the statement's result by parent; none inside a parent's page
    assert (
        sorted_pages(plans, lambda details: details.count("USE TEMP B-TREE FOR ORDER BY") > 1) == []
    )


async def balance_statements(url: str) -> list[Statement]:
    """The statements of every kind of balance read of the long ledger's customer: now, at
    a past instant, for a feature, and as of one change (live updates)."""
    engine = create_engine(url)
    seen: list[Statement] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    customer_id = SHAPE.customer_ids()[-1]
    past = SHAPE.start + timedelta(minutes=SHAPE.customers, hours=2)  # amid its ledger
    try:
        async with read_connection(engine) as connection:
            for at, feature_key in ((SHAPE.after, None), (past, None), (past, "api")):
                assert await read_balances(connection, [customer_id], at, feature_key)
            await read_balance(connection, customer_id, "USD", SHAPE.after, 5_000)
    finally:
        await engine.dispose()
    return [s for s in seen if s[0].lstrip().upper().startswith("SELECT")]


async def test_every_balance_is_read_by_index_seeks_on_postgresql(postgres_url: str) -> None:
    plans = await explain(postgres_url, await balance_statements(postgres_url))
    assert len(plans) == 8  # pending amounts and ledger figures, for each of the four reads
    assert {s[:200]: postgres_problems(p["Plan"]) for s, [p] in plans} == {
        s[:200]: [] for s, _ in plans
    }
    used = {n.get("Index Name") for _, [p] in plans for n in nodes(p["Plan"])}
    assert {"ix_ledger_ledger_booked", "ix_credit_grant_customer_funded"} <= used


async def test_every_balance_is_read_by_index_seeks_on_sqlite(sqlite_url: str) -> None:
    plans = await explain(sqlite_url, await balance_statements(sqlite_url))
    assert len(plans) == 8
    scan = re.compile(r"^SCAN (ledger_entry|credit_grant|scope_figure|marked)\b")
    assert [d for _, details in plans for d in details if scan.match(d)] == []
    used = " ".join(d for _, details in plans for d in details)
    assert "ix_ledger_ledger_booked" in used and "ix_credit_grant_customer_funded" in used
