"""One read per change, shared by every subscriber of it, survives a subscriber leaving
mid-read: the others still receive the balance (DESIGN §9)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from app.api.loaders import Loaders
from tests.live.support import BALANCE, Live, Stream, balance, connect, subscribed, until


async def test_a_subscriber_leaving_mid_read_does_not_cancel_the_read_the_others_share(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with contextlib.AsyncExitStack() as sockets:
        sessions = [await sockets.enter_async_context(connect(live)) for _ in range(3)]
        streams = [Stream(s, BALANCE, customerId=customer_id, currency="USD") for s in sessions]
        for stream in streams:
            assert await stream.next() == balance("10.00", 1, funded="10.00")
        await subscribed(live, 3)

        reads = slow_balance_reads(monkeypatch)
        await live.consume(customer_id, "c1", "4")
        await reads.started.wait()
        # Every subscriber took the change and waits on the one read.
        feeds = live.broker.subscribers[customer_id]
        await until(lambda: all(not feed.pending for feed in feeds), "all waiting")

        leaving = streams.pop(0)
        await leaving.close()
        await subscribed(live, 2)  # its operation was cancelled and released
        reads.release.set()

        expected = balance("6.00", 2, funded="10.00", consumed="4.00")
        for stream in streams:
            assert await stream.next() == expected
        assert reads.calls == 1
        for stream in streams:
            await stream.close()
    await subscribed(live, 0)


class SlowReads:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0


def slow_balance_reads(monkeypatch: pytest.MonkeyPatch) -> SlowReads:
    """Each balance read for a change waits until the test releases it."""
    reads = SlowReads()
    original = Loaders.balance_after

    async def slow(self: Loaders, *args: Any) -> Any:
        reads.calls += 1
        reads.started.set()
        await reads.release.wait()
        return await original(self, *args)

    monkeypatch.setattr(Loaders, "balance_after", slow)
    return reads
