"""Bad input to a subscription ends that operation with a clear GraphQL error; the
connection and its other subscriptions keep working (DESIGN §9, §11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.live.support import (
    BALANCE,
    ENTRIES,
    GRANTS,
    PROTOCOLS,
    FailingBroker,
    Live,
    Stream,
    balance,
    connect,
    serve,
    subscribed,
)

UNKNOWN = "cus_01M8N52KVS8X74JXHGVEN5EK4M"  # well-formed, never created


def bad(message: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": "BAD_USER_INPUT"}}


def not_found(customer_id: str) -> dict[str, Any]:
    return {"message": f"Customer {customer_id} not found", "extensions": {"code": "NOT_FOUND"}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_bad_input_ends_only_that_operation_and_the_connection_keeps_working(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    grant_id = await live.promote(customer_id, "10")
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        # unknown customers, and an ID of another kind: the same NOT_FOUND
        (BALANCE, {"customerId": UNKNOWN, "currency": "USD"}, not_found(UNKNOWN)),
        (ENTRIES, {"customerId": UNKNOWN}, not_found(UNKNOWN)),
        (GRANTS, {"customerId": UNKNOWN}, not_found(UNKNOWN)),
        (GRANTS, {"customerId": grant_id}, not_found(grant_id)),
        # malformed IDs
        (BALANCE, {"customerId": "nope", "currency": "USD"}, bad("'nope' is not a valid ID")),
        (ENTRIES, {"customerId": "nope"}, bad("'nope' is not a valid ID")),
        (GRANTS, {"customerId": "cus_"}, bad("'cus_' is not a valid ID")),
        # unknown or malformed currencies
        (
            BALANCE,
            {"customerId": customer_id, "currency": "XYZ"},
            bad("'XYZ' is not a known currency"),
        ),
        (
            ENTRIES,
            {"customerId": customer_id, "currency": "usd"},
            bad("'usd' is not a known currency"),
        ),
        # afterSequence: negative, or without a currency
        (
            ENTRIES,
            {"customerId": customer_id, "currency": "USD", "afterSequence": -1},
            bad("afterSequence must not be negative"),
        ),
        (
            ENTRIES,
            {"customerId": customer_id, "afterSequence": 3},
            bad("afterSequence needs a currency: sequences are per currency"),
        ),
    ]
    async with connect(live, protocol) as session:
        balances = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        grants = Stream(session, GRANTS, customerId=customer_id)
        assert await balances.next() == balance("10.00", 1, funded="10.00")
        await subscribed(live, 2)

        for query, variables, expected in cases:
            stream = Stream(session, query, **variables)
            assert await stream.error() == expected, variables
            await stream.quiet(0)  # nothing after the error
        await subscribed(live, 2)  # nothing held for the failed operations

        await live.consume(customer_id, "c1", "1")
        assert await balances.next() == balance("9.00", 2, funded="10.00", consumed="1.00")
        assert (await grants.next())["remaining"] == "9.00"
        entries = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=1)
        [entry] = await entries.take(1)
        assert (entry["sequence"], entry["amount"]) == (2, "-1.00")
        for stream in (balances, grants, entries):
            await stream.quiet(0.05)
            await stream.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_invalid_documents_and_variables_end_only_that_operation(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    async with connect(live, protocol) as session:
        balances = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        assert await balances.next() == balance("0.00", 0)

        unknown_field = Stream(
            session,
            "subscription($c: ID!) { creditGrantChanged(customerId: $c) { nope } }",
            c=customer_id,
        )
        error = await unknown_field.error()
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
        wrong_type = Stream(
            session, ENTRIES, customerId=customer_id, currency="USD", afterSequence="three"
        )
        error = await wrong_type.error()
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error

        await live.promote(customer_id, "5")
        assert await balances.next() == balance("5.00", 1, funded="5.00")
        await balances.close()
    await subscribed(live, 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_unexpected_failure_is_masked_and_ends_only_that_subscription(
    tmp_path: Path, clock: FrozenClock, protocol: str
) -> None:
    broker = FailingBroker()
    async with serve(tmp_path, clock, broker=broker) as live:
        customer_id = await live.customer("acme")
        other_id = await live.customer("globex")
        async with connect(live, protocol) as session:
            failing = Stream(session, BALANCE, customerId=customer_id, currency="USD")
            other = Stream(session, BALANCE, customerId=other_id, currency="USD")
            assert await failing.next() == balance("0.00", 0)
            assert await other.next() == balance("0.00", 0)

            broker.failing.add(customer_id)
            await live.promote(customer_id, "1")
            await live.promote(other_id, "2")

            assert await other.next() == balance("2.00", 1, funded="2.00")
            await subscribed(live, 1)
            error = await failing.error()
            await other.close()
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
