"""The same services on PostgreSQL: row locks serialize writers, unique indexes stop duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from ulid import ULID

from app.domain.errors import InsufficientCredits
from app.domain.grants import FundingMethod
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock, parse_duration
from app.live.publisher import RecordingPublisher
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.currencies import CurrencyCatalog, create_custom_currency
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits, purchase_credits
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.services.verify import verify
from app.storage.balances import read_balances
from app.storage.engine import create_engine, read_connection
from app.storage.tables import customers, entries, grants, metadata


@pytest.fixture
async def pg_runtime(postgres_url: str, clock: FrozenClock) -> AsyncIterator[Runtime]:
    """A scratch database of its own, dropped afterwards."""
    name = f"credits_test_{str(ULID()).lower()}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=20, max_overflow=40)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
    await engine.dispose()
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest) -> Runtime:
    """The same runtime on SQLite, then on PostgreSQL (skipped without a server)."""
    name = "runtime" if request.param == "sqlite" else "pg_runtime"
    runtime: Runtime = request.getfixturevalue(name)
    return runtime


async def count(runtime: Runtime, table: object) -> int:
    async with read_connection(runtime.engine) as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_fifty_concurrent_draws_of_one_against_twenty_never_overdraw(
    pg_runtime: Runtime,
) -> None:
    runtime = pg_runtime
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    grant = GrantRequest(customer_id=customer_id, name="promo", currency="USD", amount=Decimal(20))
    await grant_promotional_credits(runtime, actor=OPEN, request=grant)

    async def draw(n: int) -> str:
        request = ConsumeRequest(
            customer_id=customer_id, key=f"d{n}", currency="USD", amount=Decimal(1)
        )
        try:
            await consume_credits(runtime, actor=OPEN, request=request)
        except InsufficientCredits:
            return "refused"
        return "drawn"

    results = await asyncio.gather(*(draw(n) for n in range(50)))

    assert results.count("drawn") == 20 and results.count("refused") == 30
    async with read_connection(runtime.engine) as connection:
        balance = (await read_balances(connection, [customer_id], runtime.clock.now(), None))[
            (customer_id, "USD")
        ]
        sequences = list(
            (
                await connection.execute(select(entries.c.sequence).order_by(entries.c.sequence))
            ).scalars()
        )
    assert (balance.available, balance.consumed, balance.sequence) == (0, 2000, 21)
    assert sequences == list(range(1, 22))
    assert await verify(runtime.engine) == []


async def test_twenty_identical_keyed_purchases_at_once_create_one_grant(
    pg_runtime: Runtime,
) -> None:
    runtime = pg_runtime
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    request = GrantRequest(
        customer_id=customer_id,
        key="order-1",
        name="Pack",
        currency="USD",
        amount=Decimal("12.50"),
        funding_method=FundingMethod.INVOICE,
    )

    outcomes = await asyncio.gather(
        *(purchase_credits(runtime, actor=OPEN, request=request) for _ in range(20))
    )

    assert len({o.grant_id for o in outcomes}) == 1
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * 19
    assert await count(runtime, grants) == 1
    assert await verify(runtime.engine) == []


async def test_concurrent_creations_with_one_key_make_one_customer_and_one_currency(
    pg_runtime: Runtime,
) -> None:
    runtime = pg_runtime
    made = await asyncio.gather(
        *(create_customer(runtime, key="acme", name="Acme") for _ in range(10))
    )
    units = await asyncio.gather(
        *(create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0) for _ in range(10))
    )

    assert len({customer_id for customer_id, _ in made}) == 1
    assert sorted(replayed for _, replayed in made) == [False] + [True] * 9
    assert sorted(replayed for _, replayed in units) == [False] + [True] * 9
    assert await count(runtime, customers) == 1


async def test_concurrent_sweeps_book_each_due_event_exactly_once(
    pg_runtime: Runtime, clock: FrozenClock
) -> None:
    runtime = pg_runtime
    for n in range(5):
        customer_id, _ = await create_customer(runtime, key=f"c{n}", name="C")
        later = GrantRequest(
            customer_id=customer_id,
            name="later",
            currency="EUR",
            amount=Decimal(5),
            effective_at=clock.now() + timedelta(hours=1),
            expires_after=parse_duration("PT1H"),
        )
        await grant_promotional_credits(runtime, actor=OPEN, request=later)
    clock.advance(timedelta(hours=3))

    await asyncio.gather(*(book_due_events(runtime) for _ in range(6)))

    async with read_connection(runtime.engine) as connection:
        rows = (
            await connection.execute(select(entries.c.type, func.count()).group_by(entries.c.type))
        ).all()
    assert dict((kind, n) for kind, n in rows) == {"FUNDED": 5, "EXPIRED": 5}
    assert await verify(runtime.engine) == []


DASHBOARD = """
query($n: Int!) { customers(first: $n) { edges { node {
  key
  creditBalances { currency available consumed }
  creditGrants(first: $n, orderBy: {field: BURN_ORDER}) { totalCount edges { node {
    name remaining
    ledgerEntries(first: 3) { totalCount edges { node { type amount grant { name } } } }
  } } }
} } } }
"""


async def test_the_dashboard_query_answers_the_same_on_postgresql(
    pg_runtime: Runtime, clock: FrozenClock
) -> None:
    import httpx

    from app.main import create_app
    from app.settings import Settings

    runtime = pg_runtime
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    for name in ("a", "b"):
        request = GrantRequest(
            customer_id=customer_id, name=name, currency="USD", amount=Decimal(5)
        )
        await grant_promotional_credits(runtime, actor=OPEN, request=request)
    for n in range(4):
        draw = ConsumeRequest(
            customer_id=customer_id, key=f"d{n}", currency="USD", amount=Decimal(2)
        )
        await consume_credits(runtime, actor=OPEN, request=draw)
    url = runtime.engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, scheduler_enabled=False), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = (
                await client.post("/graphql", json={"query": DASHBOARD, "variables": {"n": 5}})
            ).json()

    assert "errors" not in body, body
    [edge] = body["data"]["customers"]["edges"]
    node = edge["node"]
    assert node["creditBalances"] == [{"currency": "USD", "available": "2.00", "consumed": "8.00"}]
    grants_page = node["creditGrants"]
    assert grants_page["totalCount"] == 2
    first, second = (e["node"] for e in grants_page["edges"])
    assert (first["name"], first["remaining"], second["name"], second["remaining"]) == (
        "a",
        "0.00",
        "b",
        "2.00",
    )
    assert first["ledgerEntries"]["totalCount"] == 4
    assert [(e["node"]["type"], e["node"]["amount"]) for e in first["ledgerEntries"]["edges"]] == [
        ("CONSUMED", "-1.00"),
        ("CONSUMED", "-2.00"),
        ("CONSUMED", "-2.00"),
    ]
    assert {e["node"]["grant"]["name"] for e in first["ledgerEntries"]["edges"]} == {"a"}
