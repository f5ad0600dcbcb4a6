"""A subscriber too slow to keep up is ended with an error that says how to resume; the
connection's other subscriptions keep working (DESIGN §9).

Over a real socket: the client stops reading from its TCP socket (its transport's reading
is paused), small socket buffers on both ends and large uncompressed events fill the
loopback quickly,
so the server's send blocks, its subscription stops draining the broker queue
(capacity 4), and the queue overflows.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.domain.time import FrozenClock
from app.live.broker import MemoryBroker
from tests.live.support import (
    BALANCE,
    ENTRIES,
    PROTOCOLS,
    Live,
    Stream,
    balance,
    connect,
    ledgers_started,
    loopback_socket,
    serve,
    subscribed,
    tcp_of,
    until,
)

CAPACITY = 4
BUFFER = 4096
# About 10 kB per event: ten aliases of a 1,000-character description.
HEAVY = (
    "subscription Heavy($customerId: ID!) { creditLedgerEntryBooked(customerId: $customerId) "
    "{ sequence " + " ".join(f"d{n}: description" for n in range(10)) + " } }"
)


@pytest.fixture
async def small(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Live]:
    """A server whose subscription queues hold 4 changes, with small send buffers."""
    listener = loopback_socket(send_buffer=BUFFER)
    async with serve(
        tmp_path, clock, broker=MemoryBroker(capacity=CAPACITY), listener=listener
    ) as running:
        yield running


def small_client_socket(live: Live) -> socket.socket:
    """A connected client socket with a small receive buffer (set before connecting)."""
    host, port = live.http_url.removeprefix("http://").split(":")
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    client.connect((host, int(port)))
    client.setblocking(False)
    return client


def overflowed(live: Live, customer_id: str) -> bool:
    """Every subscription of the customer has fallen more than its capacity behind."""
    return all(s.overflowed for s in live.broker.subscribers.get(customer_id, ()))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_slow_subscriber_is_ended_with_a_resumable_error_and_the_others_keep_working(
    small: Live, protocol: str
) -> None:
    live = small
    customer_id = await live.customer("acme")
    other_id = await live.customer("globex")
    await live.promote(customer_id, "1000")  # sequence 1
    await live.promote(other_id, "10")
    # No permessage-deflate: compressed, the repetitive events would hardly fill a buffer.
    tcp = small_client_socket(live)
    async with connect(live, protocol, sock=tcp, compression=None) as session:
        slow = Stream(session, HEAVY, customerId=customer_id)
        slow_balance = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        other = Stream(session, BALANCE, customerId=other_id, currency="USD")
        assert await other.next() == balance("10.00", 1, funded="10.00")
        assert await slow_balance.next() == balance("1000.00", 1, funded="1000.00")
        await subscribed(live, 3)
        await ledgers_started(live, 1)

        tcp_of(session).pause_reading()
        written = 0
        while not overflowed(live, customer_id):
            assert written < 200, "the subscription never fell behind"
            written += 1
            await live.consume(customer_id, f"c{written}", "1", description="x" * 1000)
            await asyncio.sleep(0.005)
        tcp_of(session).resume_reading()

        events, error = await slow.events_then_error()
        received = [event["sequence"] for event in events]
        last = received[-1]
        assert received == list(range(2, last + 1))
        assert last < written + 1
        assert error == {
            "message": "The subscriber fell too far behind and was ended; resume with "
            f"creditLedgerEntryBooked and USD afterSequence {last}",
            "extensions": {"code": "SUBSCRIBER_TOO_SLOW", "afterSequence": {"USD": last}},
        }
        # The balance subscription of the same customer was as slow: ended the same way.
        events, error = await slow_balance.events_then_error()
        assert [e["sequence"] for e in events] == sorted({e["sequence"] for e in events})
        assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
        await subscribed(live, 1)  # the slow subscriptions were released

        # The connection's other subscription still works, and so do new ones.
        await live.consume(other_id, "o1", "2")
        assert await other.next() == balance("8.00", 2, funded="10.00", consumed="2.00")
        resumed = Stream(
            session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=last
        )
        missed = await resumed.take(written + 1 - last)
        assert [entry["sequence"] for entry in missed] == list(range(last + 1, written + 2))
        await live.consume(customer_id, "after", "1")
        [entry] = await resumed.take(1)
        assert entry["sequence"] == written + 2
        for stream in (other, resumed):
            await stream.quiet(0.05)
            await stream.close()
    await until(lambda: live.subscribers() == 0, "every subscription released")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_blocked_socket_does_not_delay_the_subscribers_of_other_sockets(
    small: Live, protocol: str
) -> None:
    """Each subscription sends from its own task: while one socket's sends are blocked
    (its client reads nothing), a subscriber of the same change on another socket gets
    every event, the one after the block included."""
    live = small
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "1000")  # sequence 1
    tcp = small_client_socket(live)
    async with (
        connect(live, protocol, sock=tcp, compression=None) as blocked,
        connect(live, protocol) as free,
    ):
        stuck = Stream(blocked, HEAVY, customerId=customer_id)
        moving = Stream(free, HEAVY, customerId=customer_id)
        await ledgers_started(live, 2)
        tcp_of(blocked).pause_reading()
        written = 0
        while not any(f.pending for f in live.broker.subscribers[customer_id]):
            assert written < CAPACITY * 50, "no send ever blocked"
            written += 1
            await live.consume(customer_id, f"c{written}", "1", description="x" * 1000)
            assert [e["sequence"] for e in await moving.take(1)] == [written + 1]
        # the blocked socket's subscription has a change waiting behind its send; the
        # other still gets the next change
        await live.consume(customer_id, "next", "1", description="x" * 1000)
        assert [e["sequence"] for e in await moving.take(1)] == [written + 2]
        assert any(f.pending for f in live.broker.subscribers[customer_id])
        tcp_of(blocked).resume_reading()  # and the blocked one then gets every event, in order
        assert [e["sequence"] for e in await stuck.take(written + 1)] == list(range(2, written + 3))
        for stream in (stuck, moving):
            await stream.close()
