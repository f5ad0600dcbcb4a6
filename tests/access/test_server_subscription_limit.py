"""At most `max_subscriptions` live subscriptions in one server process, all sockets
together (DESIGN §11): one more is a LIMIT_EXCEEDED error that ends only that operation,
and an ended subscription makes room again. Here the limit is 3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.domain.time import FrozenClock
from app.services.customers import create_customer
from tests.access.support import Live, Socket, next_data, promote, serve, until, websocket
from tests.api.conftest import START

BALANCE = """
subscription($c: ID!) { creditBalanceChanged(customerId: $c, currency: "USD") { available } }"""
LIMIT = 3


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with serve(tmp_path, FrozenClock(START), max_subscriptions=LIMIT) as running:
        yield running


async def subscribe(socket: Socket, id: str, customer_id: str) -> None:
    await socket.subscribe(id, BALANCE, c=customer_id)
    assert next_data(await socket.receive(id), id) == {
        "creditBalanceChanged": {"available": "5.00"}
    }


async def test_one_subscription_over_the_server_limit_is_refused_and_the_others_keep_working(
    live: Live,
) -> None:
    customer_id, _ = await create_customer(live.runtime, key="acme", name="Acme")
    await promote(live.runtime, customer_id, "5", "USD")
    async with websocket(live) as first, websocket(live) as second:
        for socket in (first, second):
            assert await socket.init(None) == {"type": "connection_ack"}
        await subscribe(first, "1", customer_id)
        await subscribe(first, "2", customer_id)
        await subscribe(second, "1", customer_id)

        await second.subscribe("2", BALANCE, c=customer_id)
        refused = await second.receive("2")
        assert refused["payload"] == {
            "data": None,
            "errors": [
                {
                    "message": "More than 3 subscriptions on this server (the subscription limit)",
                    "extensions": {"code": "LIMIT_EXCEEDED"},
                }
            ],
        }
        assert await second.receive("2") == {"id": "2", "type": "complete"}

        await first.send({"id": "1", "type": "complete"})  # makes room
        await until(lambda: live.broker.subscriber_count() == 2, "one released")
        await subscribe(second, "3", customer_id)

        await promote(live.runtime, customer_id, "1", "USD")
        six = {"creditBalanceChanged": {"available": "6.00"}}
        assert [next_data(await s.receive(id), id) for s, id in [(first, "2"), (second, "1")]] == [
            six,
            six,
        ]
        assert next_data(await second.receive("3"), "3") == six
