"""creditBalanceChanged over a real socket: the current balance first, then one balance per
committed transaction that changed a figure (DESIGN §9), over both WebSocket protocols."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.errors import InsufficientCredits
from app.domain.grants import AvailabilityPolicy, SettlementStatus
from app.domain.time import FrozenClock
from tests.live.support import (
    BALANCE,
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    HeldBroker,
    Live,
    Stream,
    balance,
    connect,
    serve,
)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_first_balance_is_the_current_one_then_one_per_committed_change(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, protocol) as session:
        stream = Stream(session, BALANCE, customerId=customer_id, currency="USD")

        assert await stream.next() == balance("10.00", 1, funded="10.00")

        # An unpaid ON_SETTLEMENT purchase changes `pending` alone: same sequence.
        purchase_id = await live.purchase(customer_id, "5", AvailabilityPolicy.ON_SETTLEMENT)
        assert await stream.next() == balance("10.00", 1, pending="5.00", funded="10.00")

        await live.consume(customer_id, "c1", "3")
        assert await stream.next() == balance(
            "7.00", 2, pending="5.00", funded="10.00", consumed="3.00"
        )

        # Nothing committed for this balance: a replay, a refusal, another currency.
        await live.consume(customer_id, "c1", "3")
        with pytest.raises(InsufficientCredits):
            await live.consume(customer_id, "too-much", "100")
        await live.promote(customer_id, "4", currency="EUR")

        await live.settle(purchase_id, SettlementStatus.SETTLED)
        assert await stream.next() == balance(
            "12.00", 3, funded="15.00", consumed="3.00", promotional="7.00", paid="5.00"
        )

        # One transaction, two entries (promotional 7, then paid 2): one balance.
        await live.consume(customer_id, "c2", "9")
        assert await stream.next() == balance(
            "3.00", 5, funded="15.00", consumed="12.00", promotional="0.00", paid="3.00"
        )

        await live.void(purchase_id)
        assert await stream.next() == balance(
            "0.00", 6, funded="15.00", consumed="12.00", voided="3.00", promotional="0.00"
        )
        await stream.quiet()
        await stream.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_customer_with_no_credits_first_gets_a_zero_balance(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    async with connect(live, protocol) as session:
        stream = Stream(session, BALANCE, customerId=customer_id, currency="USD")

        assert await stream.next() == balance("0.00", 0)

        await live.promote(customer_id, "2.5")
        assert await stream.next() == balance("2.50", 1, funded="2.50")
        await stream.close()


@pytest.mark.parametrize("order", ["published in order", "published in reverse order"])
async def test_two_commits_queued_before_the_subscriber_reads_still_give_two_balances(
    tmp_path: Path, clock: FrozenClock, order: str
) -> None:
    """In order, each commit gets its balance. A process publishes in commit order (writes
    of one customer hold its lock until published), but should an earlier change arrive
    after a later one, its balance is not sent: sequence never decreases, and the later
    balance already includes it."""
    broker = HeldBroker()
    async with serve(tmp_path, clock, broker=broker) as live:
        customer_id = await live.customer("acme")
        await live.promote(customer_id, "10")
        async with connect(live) as session:
            stream = Stream(session, BALANCE, customerId=customer_id, currency="USD")
            assert await stream.next() == balance("10.00", 1, funded="10.00")

            broker.hold()
            await live.consume(customer_id, "c1", "1")
            await live.consume(customer_id, "c2", "2")
            await broker.hand_out(reverse=order == "published in reverse order")

            events = await stream.until(lambda event: event["sequence"] == 3)
            await stream.quiet()  # and no earlier balance after it
            await stream.close()
    later = balance("7.00", 3, funded="10.00", consumed="3.00")
    if order == "published in order":
        assert events == [balance("9.00", 2, funded="10.00", consumed="1.00"), later]
    else:
        assert events == [later]


async def test_every_subscriber_of_one_balance_gets_each_change(live: Live) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, TRANSPORT_WS) as first, connect(live, LEGACY_WS) as second:
        streams = [
            Stream(session, BALANCE, customerId=customer_id, currency="USD")
            for session in (first, first, second, second)
        ]
        for stream in streams:
            assert await stream.next() == balance("10.00", 1, funded="10.00")

        await live.consume(customer_id, "c1", "4")
        for stream in streams:
            assert await stream.next() == balance("6.00", 2, funded="10.00", consumed="4.00")
        for stream in streams:
            await stream.quiet(0.05)
            await stream.close()
