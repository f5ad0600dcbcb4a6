"""creditLedgerEntryBooked over a real socket: every entry once, in sequence order, resumable
with afterSequence, filtered by type (DESIGN §9)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.time import FrozenClock
from tests.live.support import (
    BALANCE,
    ENTRIES,
    PROTOCOLS,
    TRANSPORT_WS,
    HeldBroker,
    Live,
    Stream,
    connect,
    consume_over_http,
    ledgers_started,
    serve,
    subscribed,
)

BURST = 100
CLIENTS = 4


def sequences(events: list[dict[str, Any]]) -> list[int]:
    return [event["sequence"] for event in events]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_burst_of_100_mutations_from_concurrent_clients_delivers_every_entry_once_in_order(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "1000")
    async with connect(live, protocol) as first, connect(live, protocol) as second:
        everything = Stream(first, ENTRIES, customerId=customer_id)
        replayed = Stream(second, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
        consumed = Stream(first, ENTRIES, customerId=customer_id, types=["CONSUMED"])
        balances = Stream(second, BALANCE, customerId=customer_id, currency="USD")
        assert (await balances.next())["sequence"] == 1
        await subscribed(live, 4)
        await ledgers_started(live, 3)

        async def client(number: int) -> None:
            async with httpx.AsyncClient(base_url=live.http_url) as http:
                for n in range(BURST // CLIENTS):
                    await consume_over_http(http, customer_id, f"burst-{number}-{n}", "1")

        await asyncio.gather(*(client(number) for number in range(CLIENTS)))

        ledger = await live.ledger(customer_id)
        assert sequences(ledger) == list(range(1, BURST + 2))
        assert [entry["type"] for entry in ledger] == ["FUNDED"] + ["CONSUMED"] * BURST
        assert len({entry["transactionId"] for entry in ledger}) == BURST + 1
        assert await everything.take(BURST, within=20) == ledger[1:]
        assert await replayed.take(BURST + 1, within=20) == ledger
        assert await consumed.take(BURST, within=20) == ledger[1:]
        changes: list[dict[str, Any]] = []
        while not changes or changes[-1]["sequence"] < BURST + 1:
            changes.append(await balances.next(within=20))
        # One balance per committed transaction, in sequence order: one customer's writes
        # commit and publish in the same order.
        assert sequences(changes) == list(range(2, BURST + 2))
        assert changes[-1]["available"] == "900.00"
        for stream in (everything, replayed, consumed, balances):
            await stream.quiet(0.1)
            await stream.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_after_sequence_resumes_exactly_while_new_entries_keep_arriving(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "1000")  # sequence 1
    for n in range(9):
        await live.consume(customer_id, f"before-{n}", "1")  # sequences 2..10
    last = 40

    async def keep_writing() -> None:
        for n in range(last - 10):
            await live.consume(customer_id, f"during-{n}", "1")
            await asyncio.sleep(0.002)

    async with connect(live, protocol) as session:
        writer = asyncio.create_task(keep_writing())
        streams = {}
        for after in (4, 10, 0):
            streams[after] = Stream(
                session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=after
            )
            await asyncio.sleep(0.02)  # subscribe at different points of the writing
        await writer

        ledger = await live.ledger(customer_id)
        assert sequences(ledger) == list(range(1, last + 1))
        for after, stream in streams.items():
            assert await stream.take(last - after) == ledger[after:], after
            await stream.quiet(0.1)
            await stream.close()


async def test_after_sequence_at_the_last_entry_replays_nothing_and_continues_live(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    await live.consume(customer_id, "c1", "1")
    async with connect(live) as session:
        stream = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=2)
        await subscribed(live, 1)
        await stream.quiet(0.1)

        await live.consume(customer_id, "c2", "2")
        [entry] = await stream.take(1)
        assert (entry["sequence"], entry["type"], entry["amount"]) == (3, "CONSUMED", "-2.00")
        await stream.quiet(0.1)
        await stream.close()


async def test_the_types_filter_keeps_only_those_types_live_and_in_the_replay(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    first = await live.promote(customer_id, "10", name="first")  # 1 FUNDED
    await live.consume(customer_id, "c1", "4")  # 2 CONSUMED
    await live.void(first)  # 3 VOIDED
    async with connect(live) as session:
        replay = Stream(
            session,
            ENTRIES,
            customerId=customer_id,
            currency="USD",
            afterSequence=0,
            types=["FUNDED", "VOIDED"],
        )
        funded = Stream(session, ENTRIES, customerId=customer_id, types=["FUNDED"])
        await ledgers_started(live, 2)
        second = await live.promote(customer_id, "5", name="second")  # 4 FUNDED
        await live.consume(customer_id, "c2", "1")  # 5 CONSUMED
        await live.void(second)  # 6 VOIDED

        moves = [(e["sequence"], e["type"], e["amount"]) for e in await replay.take(4)]
        assert moves == [
            (1, "FUNDED", "10.00"),
            (3, "VOIDED", "-6.00"),
            (4, "FUNDED", "5.00"),
            (6, "VOIDED", "-4.00"),
        ]
        [entry] = await funded.take(1)
        assert (entry["sequence"], entry["type"], entry["amount"]) == (4, "FUNDED", "5.00")
        for stream in (replay, funded):
            await stream.quiet(0.1)
            await stream.close()


async def test_entries_of_other_currencies_and_customers_are_not_delivered(live: Live) -> None:
    customer_id = await live.customer("acme")
    other_id = await live.customer("globex")
    await live.promote(customer_id, "10")
    async with connect(live) as session:
        usd = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=1)
        every = Stream(session, ENTRIES, customerId=customer_id)
        await ledgers_started(live, 2)
        await live.promote(other_id, "7")
        await live.promote(customer_id, "3", currency="EUR")
        await live.consume(customer_id, "c1", "1")

        [entry] = await usd.take(1)
        assert (entry["currency"], entry["sequence"], entry["amount"]) == ("USD", 2, "-1.00")
        moves = [(e["currency"], e["sequence"], e["amount"]) for e in await every.take(2)]
        assert moves == [("EUR", 1, "3.00"), ("USD", 2, "-1.00")]
        for stream in (usd, every):
            await stream.quiet(0.1)
            await stream.close()


@pytest.mark.parametrize("reverse", [False, True], ids=["in order", "in reverse order"])
async def test_entries_published_late_or_out_of_order_arrive_once_in_sequence_order(
    tmp_path: Path, clock: FrozenClock, reverse: bool
) -> None:
    broker = HeldBroker()
    async with serve(tmp_path, clock, broker=broker) as live:
        customer_id = await live.customer("acme")
        await live.promote(customer_id, "10")
        async with connect(live) as session:
            stream = Stream(session, ENTRIES, customerId=customer_id, currency="USD")
            await ledgers_started(live, 1)

            broker.hold()
            for n in range(3):
                await live.consume(customer_id, f"c{n}", "1")  # sequences 2, 3, 4
            await broker.hand_out(reverse=reverse)
            await live.consume(customer_id, "after", "1")  # 5

            events = await stream.take(4)
            await stream.quiet(0.1)
            await stream.close()
        ledger = await live.ledger(customer_id)
    assert events == ledger[1:]


LEDGER_WITH_GRANT = """
subscription Entries($customerId: ID!) {
  creditLedgerEntryBooked(customerId: $customerId) { sequence grant { remaining status } }
}"""


async def test_nested_fields_of_each_event_are_read_fresh_not_cached_for_the_socket(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, TRANSPORT_WS) as session:
        stream = Stream(session, LEDGER_WITH_GRANT, customerId=customer_id)
        await ledgers_started(live, 1)
        events = []
        for key, amount in [("c1", "3"), ("c2", "2"), ("c3", "5")]:
            # One at a time: the nested grant is read when its event goes out, as it is then.
            await live.consume(customer_id, key, amount)
            events += await stream.take(1)
        await stream.close()
    assert events == [
        {"sequence": 2, "grant": {"remaining": "7.00", "status": "ACTIVE"}},
        {"sequence": 3, "grant": {"remaining": "5.00", "status": "ACTIVE"}},
        {"sequence": 4, "grant": {"remaining": "0.00", "status": "DEPLETED"}},
    ]
