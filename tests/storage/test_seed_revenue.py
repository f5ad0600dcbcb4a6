"""The seed's paid grants (app/storage/seed.py): their prices, and January's revenue of a
small shape worked out by hand, on both engines. The benchmark's creditRevenue row values
the same kind of ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import select

from app.domain.revenue import RevenueInterval
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.revenue import credit_revenue
from app.services.runtime import Runtime
from app.services.verify import verify
from app.storage.engine import create_engine
from app.storage.seed import Shape, seed_id
from app.storage.tables import grants
from tests.storage.support import seeded_postgres, seeded_sqlite, seeding

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Customers 0 and 1: three grants of 4 entries (funded 4.00, three draws of 1.00); the
# long ledger, customer 2: three grants of 10 entries (funded 10.00, nine draws of 1.00).
# Grant 0 is USD invoiced at 0.9 USD, grant 1 EUR bought at 0.3333 USD, grant 2 promotional.
SHAPE = Shape(customers=2, grants=3, entries=4, big_entries=30, currencies=("USD", "EUR"))
JANUARY = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield await seeded_sqlite(tmp_path_factory.mktemp("seed"), seeding(SHAPE))
        return
    async with seeded_postgres(seeding(SHAPE)) as found:
        yield found


async def test_two_grants_in_three_are_bought_in_usd_at_their_price(url: str) -> None:
    engine = create_engine(url)
    try:
        assert await verify(engine) == []
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(
                    grants.c.currency,
                    grants.c.funding_method,
                    grants.c.purchase_currency,
                    grants.c.cost_basis,
                    grants.c.purchase_amount,
                    grants.c.settlement_status,
                    grants.c.remaining,
                )
                .where(grants.c.customer_id.in_([seed_id("customer", n) for n in (0, 2)]))
                .order_by(grants.c.id)
            )
            found = [tuple(row) for row in rows]
    finally:
        await engine.dispose()
    assert found == [
        # 4.00 x 0.9 = 3.60; 4.00 x 0.3333 = 1.3332, rounded to 1.33
        ("USD", "INVOICE", "USD", "0.9", 360, "PENDING", 100),
        ("EUR", "EXTERNAL", "USD", "0.3333", 133, "SETTLED", 100),
        ("USD", "NONE", None, None, None, None, 100),
        # 10.00 x 0.9 = 9.00; 10.00 x 0.3333 = 3.333, rounded to 3.33
        ("USD", "INVOICE", "USD", "0.9", 900, "PENDING", 100),
        ("EUR", "EXTERNAL", "USD", "0.3333", 333, "SETTLED", 100),
        ("USD", "NONE", None, None, None, None, 100),
    ]


async def test_januarys_revenue_values_the_paid_draws_and_what_remains(url: str) -> None:
    engine = create_engine(url)
    runtime = Runtime(
        engine, FrozenClock(JANUARY[1]), CurrencyCatalog(engine), RecordingPublisher()
    )
    try:
        report = await credit_revenue(
            runtime,
            currency="USD",
            starts=JANUARY[0],
            ends=JANUARY[1],
            interval=RevenueInterval.MONTH,
        )
    finally:
        await engine.dispose()
    [january] = report.periods
    # Each paid grant is drawn 3 + 3 + 9 = 15 times by 1.00: 15 x (0.9 + 0.3333) = 18.4995
    assert str(january.recognized) == "18.50"
    # Each keeps one 1.00 at the end, three of each: 3 x 1.2333 = 3.6999, rounded once
    # (each grant's rounded would give 3 x (0.90 + 0.33) = 3.69)
    assert str(january.deferred_at_end) == "3.70"
    assert str(january.breakage) == "0.00"  # nothing expires or is voided in January
