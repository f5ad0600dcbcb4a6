"""The floor's consumption keeps the maintained figures exactly as the server does:
`credits verify` finds nothing to report after it."""

from __future__ import annotations

from typing import Any

import pytest
from benchmark import floor
from sqlalchemy import select

from app.services.verify import verify
from app.storage.engine import create_engine
from app.storage.seed import seed_id
from app.storage.tables import accounts

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_after_the_floors_consumptions_verify_is_clean(run_url: str) -> None:
    engine = create_engine(run_url)
    customer = seed_id("customer", 3)
    key = (accounts.c.customer_id == customer) & (accounts.c.currency == "USD")

    async def account() -> Any:
        async with engine.connect() as connection:
            return (await connection.execute(select(accounts).where(key))).one()

    try:
        before = await account()
        for n in range(3):
            body = {"customerId": customer, "key": f"floor-{n}", "currency": "USD", "units": 7}
            await floor.consume(engine, body)
        after = await account()

        assert await verify(engine) == []
        assert after.sequence == before.sequence + 3
        assert after.available == before.available - 21
        assert after.consumed == before.consumed + 21
        # the first in burn order is the seed's invoiced grant 0: a paid draw
        assert after.available_promotional == before.available_promotional
    finally:
        await engine.dispose()
