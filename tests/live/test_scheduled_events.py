"""Time-driven entries are pushed with no request at all: the server's scheduler books them
(a FrozenClock moved forward) and publishes them like any other change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.domain.time import FrozenClock
from tests.live.support import (
    BALANCE,
    ENTRIES,
    GRANTS,
    Live,
    Stream,
    balance,
    connect,
    serve,
    subscribed,
)


@pytest.fixture
async def scheduled(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Live]:
    async with serve(tmp_path, clock, scheduler=True) as running:
        yield running


async def test_a_scheduled_expiry_is_pushed_without_any_request(scheduled: Live) -> None:
    live = scheduled
    customer_id = await live.customer("acme")
    expires_at = live.clock.now() + timedelta(hours=1)
    grant_id = await live.promote(customer_id, "10", expires_at=expires_at)  # 1 FUNDED
    await live.consume(customer_id, "c1", "4")  # 2 CONSUMED
    async with connect(live) as session:
        balances = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        entries = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=2)
        grants = Stream(session, GRANTS, customerId=customer_id)
        assert await balances.next() == balance("6.00", 2, funded="10.00", consumed="4.00")
        await subscribed(live, 3)

        live.clock.advance(timedelta(hours=2))

        [expired] = await entries.take(1)
        assert {k: expired[k] for k in ("sequence", "type", "amount")} == {
            "sequence": 3,
            "type": "EXPIRED",
            "amount": "-6.00",
        }
        assert await balances.next() == balance(
            "0.00", 3, funded="10.00", consumed="4.00", expired="6.00"
        )
        changed = await grants.next()
        assert {k: changed[k] for k in ("id", "status", "remaining", "expired")} == {
            "id": grant_id,
            "status": "EXPIRED",
            "remaining": "0.00",
            "expired": "6.00",
        }
        for stream in (balances, entries, grants):
            await stream.quiet(0.1)
            await stream.close()


async def test_a_scheduled_funding_is_pushed_without_any_request(scheduled: Live) -> None:
    live = scheduled
    customer_id = await live.customer("acme")
    effective_at = live.clock.now() + timedelta(hours=1)
    await live.promote(customer_id, "10", effective_at=effective_at)
    async with connect(live) as session:
        balances = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        entries = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
        assert await balances.next() == balance("0.00", 0, pending="10.00")
        await subscribed(live, 2)

        live.clock.advance(timedelta(minutes=90))

        [funded] = await entries.take(1)
        assert (funded["sequence"], funded["type"], funded["amount"]) == (1, "FUNDED", "10.00")
        assert await balances.next() == balance("10.00", 1, funded="10.00")
        for stream in (balances, entries):
            await stream.quiet(0.1)
            await stream.close()
