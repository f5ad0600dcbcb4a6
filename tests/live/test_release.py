"""Completing a subscription or dropping the connection releases everything the server
held for it: the broker's subscriber count returns to zero."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportConnectionFailed
from sqlalchemy import event
from sqlalchemy.util import await_

from tests.live.support import (
    BALANCE,
    ENTRIES,
    GRANTS,
    PROTOCOLS,
    TRANSPORT_WS,
    Live,
    Stream,
    balance,
    connect,
    subscribed,
    tcp_of,
    until,
)


async def three(
    live: Live, session: AsyncClientSession, customer_id: str, key: str
) -> list[Stream]:
    """A subscription of each kind, each one past its start: each has delivered an event."""
    before = live.subscribers()
    streams = [
        Stream(session, BALANCE, customerId=customer_id, currency="USD"),
        Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0),
        Stream(session, GRANTS, customerId=customer_id),
    ]
    await streams[0].next()
    await streams[1].next()
    await subscribed(live, before + 3)
    await live.consume(customer_id, key, "1")
    for stream in streams:
        await stream.next()
    return streams


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_completing_subscriptions_releases_each_and_the_connection_stays_usable(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, protocol) as session:
        streams = await three(live, session, customer_id, "c1")

        for left, stream in reversed(list(enumerate(streams))):
            await stream.close()
            await subscribed(live, left)

        again = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        assert await again.next() == balance("9.00", 2, funded="10.00", consumed="1.00")
        await subscribed(live, 1)
        await again.close()
        await subscribed(live, 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_closing_a_connection_releases_its_subscriptions_and_no_others(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    other_id = await live.customer("globex")
    await live.promote(customer_id, "10")
    await live.promote(other_id, "10")
    async with connect(live, protocol) as staying:
        kept = await three(live, staying, customer_id, "c1")
        async with connect(live, protocol) as leaving:
            await three(live, leaving, other_id, "c1")
        await subscribed(live, 3)

        await live.consume(customer_id, "c2", "1")
        assert (await kept[0].next())["available"] == "8.00"
        assert (await kept[1].next())["sequence"] == 3
        assert (await kept[2].next())["remaining"] == "8.00"
    await subscribed(live, 0)


async def test_a_connection_dropped_without_a_close_handshake_releases_its_subscriptions(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live) as session:
        streams = await three(live, session, customer_id, "c1")
        tcp_of(session).abort()  # the TCP connection is reset: no close frame
        for stream in streams:
            item = await stream.item()
            assert isinstance(item, TransportConnectionFailed), item
    await subscribed(live, 0)


async def test_a_subscription_ended_by_an_error_holds_nothing(live: Live) -> None:
    async with connect(live) as session:
        for n in range(5):
            customer_id = f"cus_01M8N52KVS8X74JXHGVEN5EK4{n}"
            stream = Stream(session, GRANTS, customerId=customer_id)
            assert (await stream.error())["extensions"]["code"] == "NOT_FOUND"
        await subscribed(live, 0)


class HeldCheck:
    """Holds the statement a subscription runs to check its customer until `released`,
    without blocking the event loop (it waits in SQLAlchemy's greenlet, as the driver's
    awaits do); records that it began and whether the wait was cancelled."""

    def __init__(self, live: Live) -> None:
        self.released = asyncio.Event()
        self.began = 0
        self.cancelled = 0
        event.listen(live.runtime.engine.sync_engine, "before_cursor_execute", self.hold)

    def hold(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT customer.id \nFROM customer \nWHERE customer.id IN"):
            self.began += 1
            try:
                await_(self.released.wait())
            except asyncio.CancelledError:
                self.cancelled += 1
                raise


@pytest.mark.parametrize("end", ["complete", "disconnect"])
async def test_a_subscription_ended_while_it_is_starting_holds_nothing(
    live: Live, end: str
) -> None:
    customer_id = await live.customer("acme")
    check = HeldCheck(live)
    try:
        async with connect(live, TRANSPORT_WS) as session:
            stream = Stream(session, GRANTS, customerId=customer_id)
            # Subscribed to the broker, then checking the customer (not as soon as
            # subscribed: the check begins a few awaits later).
            await until(lambda: check.began == 1, "the customer check to begin")
            assert live.subscribers() == 1
            if end == "complete":
                await stream.close()
            else:
                tcp_of(session).abort()
                await stream.item()
            await subscribed(live, 0)  # while its check is still held
    finally:
        check.released.set()
    # The check is a read that subscriptions starting together share: the one that left
    # stopped waiting for it, and the read itself went on for the others.
    assert (check.began, check.cancelled) == (1, 0)
