"""creditGrantChanged over a real socket: a grant is sent after any change to it."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.grants import AvailabilityPolicy, SettlementStatus
from tests.live.support import GRANTS, PROTOCOLS, Live, Stream, connect, subscribed


def grant(
    grant_id: str,
    status: str,
    remaining: str,
    *,
    consumed: str = "0.00",
    voided: str = "0.00",
    settlement: str | None = None,
    name: str = "purchase",
) -> dict[str, Any]:
    return {
        "id": grant_id,
        "name": name,
        "status": status,
        "amount": "10.00",
        "remaining": remaining,
        "consumed": consumed,
        "expired": "0.00",
        "voided": voided,
        "purchase": None if settlement is None else {"settlementStatus": settlement},
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_grant_is_sent_after_its_creation_settlement_consumption_and_void(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    async with connect(live, protocol) as session:
        stream = Stream(session, GRANTS, customerId=customer_id)
        await subscribed(live, 1)

        grant_id = await live.purchase(customer_id, "10", AvailabilityPolicy.ON_SETTLEMENT)
        assert await stream.next() == grant(grant_id, "PENDING", "0.00", settlement="PENDING")

        await live.settle(grant_id, SettlementStatus.SETTLED)
        assert await stream.next() == grant(grant_id, "ACTIVE", "10.00", settlement="SETTLED")

        await live.consume(customer_id, "c1", "4")
        assert await stream.next() == grant(
            grant_id, "ACTIVE", "6.00", consumed="4.00", settlement="SETTLED"
        )

        await live.void(grant_id)
        assert await stream.next() == grant(
            grant_id, "VOIDED", "0.00", consumed="4.00", voided="6.00", settlement="SETTLED"
        )
        await stream.quiet()
        await stream.close()


async def test_one_consumption_drawing_two_grants_sends_both(live: Live) -> None:
    customer_id = await live.customer("acme")
    first = await live.promote(customer_id, "10", name="first", priority=1)
    second = await live.promote(customer_id, "10", name="second", priority=2)
    async with connect(live) as session:
        stream = Stream(session, GRANTS, customerId=customer_id)
        await subscribed(live, 1)

        await live.consume(customer_id, "c1", "15")

        sent = sorted(await stream.take(2), key=lambda g: g["name"])
        assert sent == [
            grant(first, "DEPLETED", "0.00", consumed="10.00", name="first"),
            grant(second, "ACTIVE", "5.00", consumed="5.00", name="second"),
        ]
        await stream.quiet()
        await stream.close()


async def test_every_subscriber_of_one_customer_gets_each_changed_grant(live: Live) -> None:
    customer_id = await live.customer("acme")
    grant_id = await live.promote(customer_id, "10", name="promo")
    async with connect(live) as first, connect(live) as second:
        streams = [Stream(session, GRANTS, customerId=customer_id) for session in (first, second)]
        await subscribed(live, 2)

        await live.consume(customer_id, "c1", "4")
        for stream in streams:
            assert await stream.next() == grant(
                grant_id, "ACTIVE", "6.00", consumed="4.00", name="promo"
            )
        for stream in streams:
            await stream.close()
