"""The fast lane: a change's entries go to waiting ledger subscribers' sockets as the
change is delivered, and only in the plain case; anything else goes through the
subscription's task, in order (app/api/fast_lane.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from websockets.frames import Frame, Opcode

from app.api import subscriptions
from app.api.fanout import SHARING
from app.api.socket_writes import text_frame
from app.domain.events import Committed
from app.domain.time import FrozenClock
from app.live.broker import MemoryBroker
from app.live.postgres import decode, encode
from tests.live.support import (
    ENTRIES,
    LEGACY_WS,
    TRANSPORT_WS,
    HeldBroker,
    Live,
    Stream,
    connect,
    ledgers_started,
    serve,
    until,
)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 70_000])
def test_a_frame_is_what_the_websockets_library_writes_for_a_server(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected


async def lanes_ready(live: Live, customer_id: str, count: int) -> None:
    """Every subscription of the customer waits for a change, its lane set."""

    def ready() -> bool:
        found = live.broker.subscribers.get(customer_id, set())
        return len(found) == count and all(s.fast is not None and s.parked() for s in found)

    await until(ready, f"{count} ledger subscriptions waiting with a lane")


async def test_waiting_subscribers_get_each_change_through_the_lane_in_order(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "3")  # sequence 1
    await live.promote(customer_id, "3")  # sequence 2
    async with connect(live, TRANSPORT_WS) as first, connect(live, LEGACY_WS) as second:
        streams = [
            Stream(session, ENTRIES, customerId=customer_id, currency="USD")
            for session in (first, second)
            for _ in range(3)
        ]
        consumed = Stream(first, ENTRIES, customerId=customer_id, types=["CONSUMED"])
        await ledgers_started(live, 7)
        await lanes_ready(live, customer_id, 7)
        before = SHARING.fast
        await live.consume(customer_id, "c1", "1")  # sequence 3
        await live.consume(customer_id, "c2", "4")  # two grants: sequences 4 and 5
        events = [await stream.take(3) for stream in streams]
        only = await consumed.take(3)
        fast = SHARING.fast - before

    seen = [(e["sequence"], e["amount"]) for e in events[0]]
    assert seen == [(3, "-1.00"), (4, "-2.00"), (5, "-2.00")] or seen == [
        (3, "-1.00"),
        (4, "-3.00"),
        (5, "-1.00"),
    ]
    assert all([(e["sequence"], e["amount"]) for e in got] == seen for got in events)
    assert [(e["sequence"], e["amount"]) for e in only] == seen
    assert fast == 7 * 3  # every entry of both changes, to every subscriber, by the lane


async def test_a_change_that_needs_a_read_keeps_later_changes_behind_it(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """Changes handed out newest first: the first to arrive leaves a gap, so its
    subscriber's task reads; the others must queue behind it, not take the lane."""
    async with serve(tmp_path, clock, broker=HeldBroker()) as live:
        customer_id = await live.customer("acme")
        await live.promote(customer_id, "10")  # sequence 1
        async with connect(live, TRANSPORT_WS) as session:
            streams = [
                Stream(session, ENTRIES, customerId=customer_id, currency="USD") for _ in "ab"
            ]
            await ledgers_started(live, 2)
            await lanes_ready(live, customer_id, 2)
            assert isinstance(live.broker, HeldBroker)
            live.broker.hold()
            for n in range(3):
                await live.consume(customer_id, f"c{n}", "1")  # sequences 2, 3, 4
            before = SHARING.fast
            await live.broker.hand_out(reverse=True)
            events = [await stream.take(3) for stream in streams]
            await lanes_ready(live, customer_id, 2)
            taken = SHARING.fast - before
            await live.consume(customer_id, "c3", "1")  # sequence 5: the lane again
            last = [await stream.next() for stream in streams]
            again = SHARING.fast - before - taken
            for stream in streams:
                await stream.quiet(0.1)

    assert [[e["sequence"] for e in got] for got in events] == [[2, 3, 4]] * 2
    assert taken == 0
    assert [e["sequence"] for e in last] == [5, 5]
    assert again == 2


async def test_a_change_arriving_while_the_task_reads_waits_for_it(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change from another process carries no entries: the task reads them. A change
    with entries arriving during that read finds the queue empty but the reader busy:
    it must wait for the task, not overtake the entries being read."""
    reading, release = asyncio.Event(), asyncio.Event()
    read = subscriptions.entry_page

    async def held_read(*args: Any) -> list[Any]:
        reading.set()
        await release.wait()
        return await read(*args)

    async with serve(tmp_path, clock, broker=HeldBroker()) as live:
        broker = live.broker
        assert isinstance(broker, HeldBroker)
        customer_id = await live.customer("acme")
        await live.promote(customer_id, "10")  # sequence 1
        async with connect(live, TRANSPORT_WS) as session:
            stream = Stream(session, ENTRIES, customerId=customer_id, currency="USD")
            await ledgers_started(live, 1)
            await lanes_ready(live, customer_id, 1)
            broker.hold()
            await live.consume(customer_id, "c1", "1")  # sequence 2
            await live.consume(customer_id, "c2", "2")  # sequence 3
            assert broker.held is not None
            notice, change = decode(encode(broker.held[0])), broker.held[1]
            broker.held = None
            monkeypatch.setattr(subscriptions, "entry_page", held_read)
            before = SHARING.fast
            broker.deliver(notice)
            await asyncio.wait_for(reading.wait(), 5)
            broker.deliver(change)
            release.set()
            events = await stream.take(2)
            taken = SHARING.fast - before
            await stream.quiet(0.1)

    assert [(e["sequence"], e["amount"]) for e in events] == [(2, "-1.00"), (3, "-2.00")]
    assert taken == 0


async def test_the_broker_offers_a_change_to_the_lane_only_while_its_reader_waits() -> None:
    broker = MemoryBroker()
    taken: list[Committed] = []
    feed = broker.subscribe("customer")

    def take(committed: Committed) -> bool:
        taken.append(committed)
        return True

    feed.fast = take
    first, second, third = (Committed("customer", sequences={"USD": n}) for n in (1, 2, 3))
    feed.offer(first)  # nobody reads yet: queued
    reader = asyncio.ensure_future(feed.next())
    assert await asyncio.wait_for(reader, 5) is first
    reader = asyncio.ensure_future(feed.next())
    await asyncio.sleep(0)  # the reader now waits
    feed.offer(second)  # taken by the lane: the reader keeps waiting
    assert taken == [second] and not reader.done()

    def failing(committed: Committed) -> bool:
        raise RuntimeError("a bug in the lane")

    feed.fast = failing
    feed.offer(third)  # the lane failed: the reader gets the change
    assert await asyncio.wait_for(reader, 5) is third
