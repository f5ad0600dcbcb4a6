"""One change, many subscribers: the selection set is executed and the payload encoded
once per operation and variables, whatever the number of subscribers and sockets, and
each subscriber's frame goes straight to its socket (no Strawberry per-result work)."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path

from app.api.fanout import SHARING
from app.domain.events import Committed
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.broker import MemoryBroker
from app.live.postgres import decode, encode
from app.services.consumption import ConsumeRequest, consume_credits
from tests.access.support import build_world, next_data, serve, until, websocket
from tests.conftest import START
from tests.live.support import (
    BALANCE,
    ENTRIES,
    LEGACY_WS,
    TRANSPORT_WS,
    Live,
    Stream,
    connect,
    ledgers_started,
    subscribed,
)
from tests.live.support import serve as serve_live


def counts() -> tuple[int, int, int, int]:
    """Executions, encodings, events sent directly, events through Strawberry's chain."""
    return SHARING.executed, SHARING.encoded, SHARING.direct, SHARING.processed


def spent(before: tuple[int, ...], after: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(a - b for a, b in zip(after, before, strict=True))


async def test_ten_subscribers_of_one_document_cost_one_execution_and_one_encoding(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, TRANSPORT_WS) as first, connect(live, LEGACY_WS) as second:
        streams = [
            Stream(session, ENTRIES, customerId=customer_id, currency="USD")
            for session in (first, second)
            for _ in range(5)
        ]
        await ledgers_started(live, 10)
        before = counts()
        await live.consume(customer_id, "c1", "1.50")
        events = [await stream.next() for stream in streams]
        after = counts()
        for stream in streams:
            await stream.close()

    assert [(e["sequence"], e["type"], e["amount"]) for e in events] == [
        (2, "CONSUMED", "-1.50")
    ] * 10
    assert len({e["id"] for e in events}) == 1
    assert spent(before, after) == (1, 1, 10, 0)


class NoticeBroker(MemoryBroker):
    """Delivers each change as the PostgreSQL broker does: what its notice carries
    (customer, sequences, grant ids, instant), not the entries."""

    def deliver(self, committed: Committed) -> None:
        super().deliver(decode(encode(committed)))


async def test_subscribers_of_a_change_by_sequences_share_one_read_execution_and_encoding(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with serve_live(tmp_path, clock, broker=NoticeBroker()) as live:
        customer_id = await live.customer("acme")
        await live.promote(customer_id, "10")
        async with connect(live, TRANSPORT_WS) as first, connect(live, LEGACY_WS) as second:
            streams = [
                Stream(session, ENTRIES, customerId=customer_id, currency="USD")
                for session in (first, second)
                for _ in range(5)
            ]
            await ledgers_started(live, 10)
            before = counts()
            await live.consume(customer_id, "c1", "1.50")
            await live.consume(customer_id, "c2", "0.25")
            events = [[await stream.next(), await stream.next()] for stream in streams]
            after = counts()
            for stream in streams:
                await stream.close()

    assert [[(e["sequence"], e["amount"]) for e in pair] for pair in events] == [
        [(2, "-1.50"), (3, "-0.25")]
    ] * 10
    assert spent(before, after) == (2, 2, 20, 0)


async def test_each_distinct_set_of_variables_is_executed_once(live: Live) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, TRANSPORT_WS) as session:
        usd = [Stream(session, ENTRIES, customerId=customer_id, currency="USD") for _ in "abc"]
        every = [Stream(session, ENTRIES, customerId=customer_id) for _ in "abc"]
        await ledgers_started(live, 6)
        before = counts()
        await live.consume(customer_id, "c1", "2")
        events = [await stream.next() for stream in usd + every]
        after = counts()

    assert [e["amount"] for e in events] == ["-2.00"] * 6
    assert spent(before, after) == (2, 2, 6, 0)


async def test_subscribers_starting_together_share_their_first_balance(live: Live) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, TRANSPORT_WS) as session:
        streams = [
            Stream(session, BALANCE, customerId=customer_id, currency="USD") for _ in range(8)
        ]
        firsts = [await stream.next() for stream in streams]
        await subscribed(live, 8)
        reads = live.app.state.sessions.reads
        assert reads.balances.answered == 8
        assert reads.customers.answered == 8

    assert {(b["available"], b["sequence"]) for b in firsts} == {("10.00", 1)}
    # Each read answered every subscription that asked before it began: fewer reads than
    # subscriptions (at most one at a time; the first turn's askers share the first).
    assert reads.balances.reads < 8
    assert reads.customers.reads < 8


ENTRY_WITH_GRANT = """
subscription($c: ID!) {
  creditLedgerEntryBooked(customerId: $c, currency: "USD") { sequence amount grant { id } }
}"""


async def test_subscribers_as_different_viewers_are_executed_apart(tmp_path: Path) -> None:
    """A's portal token, an ADMIN key and a READER key subscribe to A's entries with one
    document: each viewer gets its own execution (any field may answer by who asks)."""
    async with serve(tmp_path, FrozenClock(START)) as live:
        world = await build_world(live.app)
        callers = ["portal_own", "admin", "reader", "reader"]
        async with contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(websocket(live)) for _ in callers]
            for socket, caller in zip(sockets, callers, strict=True):
                assert await socket.init(world.authorization(caller)) == {"type": "connection_ack"}
                await socket.subscribe("1", ENTRY_WITH_GRANT, c=world.a.customer)
            await until(lambda: live.broker.subscriber_count() == 4, "4 subscribers")
            await until(lambda: live.app.state.sessions.reads.sequences.answered == 4, "started")
            before = counts()
            use = ConsumeRequest(
                customer_id=world.a.customer, key="c2", currency="USD", amount=Decimal(2)
            )
            await consume_credits(live.runtime, actor=OPEN, request=use)
            events = [next_data(await socket.receive("1"), "1") for socket in sockets]
            after = counts()

    entry = {"sequence": 3, "amount": "-2.00", "grant": {"id": world.a.grant}}
    assert events == [{"creditLedgerEntryBooked": entry}] * 4
    assert spent(before, after) == (3, 3, 4, 0)  # the two readers share
