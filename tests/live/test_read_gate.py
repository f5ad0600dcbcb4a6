"""Subscriptions read through the process's live read gate; HTTP requests and a socket's
`connection_init` do not (DESIGN §11): with every place of the gate taken, a socket
connects and a new subscription waits for its first event while requests keep
answering, and it gets the event once a place is free."""

from __future__ import annotations

import asyncio

from app.storage.engine import LIVE_READS, MAX_OVERFLOW, POOL_SIZE
from tests.live.support import BALANCE, Live, Stream, balance, connect, subscribed


def test_the_gate_leaves_requests_most_of_the_pool() -> None:
    assert LIVE_READS * 4 <= POOL_SIZE + MAX_OVERFLOW


async def test_a_full_gate_holds_subscription_reads_but_not_requests(live: Live) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    gate: asyncio.Semaphore = live.app.state.live_reads
    for _ in range(LIVE_READS):
        await gate.acquire()
    async with connect(live) as session:  # connection_init's check of credentials: not gated
        stream = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        for _ in range(3):
            assert await live.post("{ viewer { kind } }") == {"viewer": {"kind": "OPEN"}}
        await stream.quiet(0.3)
        await subscribed(live, 1)  # subscribed; its reads wait at the gate

        gate.release()
        assert await stream.next() == balance("10.00", 1, funded="10.00")
        for _ in range(LIVE_READS - 1):
            gate.release()
        await stream.close()
