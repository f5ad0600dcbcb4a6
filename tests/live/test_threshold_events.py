"""creditThresholdEvent over a real socket: every event once, in sequence order, resumable
with afterSequence (docs/thresholds.md); and what a PostgreSQL notification carries."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from app.domain.events import Committed
from app.domain.grants import FundingMethod
from app.domain.ledger import OPEN
from app.live.postgres import decode, encode
from app.services.thresholds import ThresholdRequest, TopUpRequest, create_credit_threshold
from tests.live.support import (
    Live,
    Stream,
    connect,
    consume_over_http,
    subscribed,
    until,
)

EVENTS = """
subscription Events($customerId: ID!, $currency: String, $after: Int) {
  creditThresholdEvent(customerId: $customerId, currency: $currency, afterSequence: $after) {
    id sequence type availableBefore availableAfter entry { sequence type }
    topUpGrant { amount } threshold { name }
  }
}"""
LISTED = """
query($id: ID!) {
  customer(id: $id) {
    creditThresholdEvents(first: 500, currency: "USD") {
      edges { node { id sequence type availableBefore availableAfter entry { sequence type }
                     topUpGrant { amount } threshold { name } } }
    }
  }
}"""


async def watched(live: Live, customer_id: str) -> None:
    """Below 50, topped up by 10 at once: every tenth credit crosses and recovers."""
    request = ThresholdRequest(
        customer_id=customer_id,
        name="Low",
        currency="USD",
        below=Decimal(50),
        top_up=TopUpRequest(Decimal(10), FundingMethod.INVOICE),
    )
    await create_credit_threshold(live.runtime, actor=OPEN, request=request)


async def listed(live: Live, customer_id: str) -> list[dict[str, Any]]:
    data = await live.post(LISTED, id=customer_id)
    return [edge["node"] for edge in data["customer"]["creditThresholdEvents"]["edges"]]


async def started(live: Live, count: int) -> None:
    """`count` threshold subscriptions read where each ledger stands (after subscribing)."""

    def reads() -> int:
        return sum("threshold_sequence" in s and "SELECT" in s for s in live.statements)

    await until(lambda: reads() >= count, f"{count} threshold subscriptions started")


async def test_a_burst_delivers_every_event_once_in_order_and_resumes_exactly(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "59")
    await watched(live, customer_id)
    async with connect(live) as first, connect(live) as second:
        everything = Stream(first, EVENTS, customerId=customer_id)
        replayed = Stream(second, EVENTS, customerId=customer_id, currency="USD", after=0)
        await subscribed(live, 2)
        await started(live, 1)

        async def client(number: int) -> None:
            async with httpx.AsyncClient(base_url=live.http_url) as http:
                for n in range(10):
                    await consume_over_http(http, customer_id, f"burst-{number}-{n}", "1")

        await asyncio.gather(*(client(number) for number in range(4)))
        events = await listed(live, customer_id)
        assert [e["sequence"] for e in events] == list(range(1, 9))
        assert [e["type"] for e in events] == ["CROSSED", "RECOVERED"] * 4
        assert {(e["availableBefore"], e["availableAfter"]) for e in events} == {("50.00", "59.00")}
        assert await everything.take(8, within=20) == events
        assert await replayed.take(8, within=20) == events

        resumed = Stream(second, EVENTS, customerId=customer_id, currency="USD", after=5)
        await subscribed(live, 3)
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            for n in range(10):
                await consume_over_http(http, customer_id, f"more-{n}", "1")
        events = await listed(live, customer_id)
        assert [e["sequence"] for e in events] == list(range(1, 11))
        assert await resumed.take(5, within=20) == events[5:]
        assert await everything.take(2, within=20) == events[8:]
        assert await replayed.take(2, within=20) == events[8:]
        for stream in (everything, replayed, resumed):
            await stream.quiet(0.1)
            await stream.close()


async def test_a_subscription_to_an_unknown_customer_ends_not_found(live: Live) -> None:
    async with connect(live) as session:
        stream = Stream(session, EVENTS, customerId="cus_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")
        error = await stream.error()
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_a_notification_carries_the_last_threshold_event_of_each_ledger() -> None:
    change = Committed("cus_1", sequences={"USD": 7}, threshold_sequences={"USD": 3})
    assert decode(encode(change)).threshold_sequences == {"USD": 3}
    plain = Committed("cus_1", sequences={"USD": 7})
    assert '"h"' not in encode(plain) and decode(encode(plain)).threshold_sequences == {}
