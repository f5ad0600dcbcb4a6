"""Text no field can hold in a subscription argument ends that operation with
BAD_USER_INPUT naming the argument; the connection keeps working (DESIGN §9, §11)."""

from __future__ import annotations

import pytest

from tests.live.support import BALANCE, PROTOCOLS, Live, Stream, balance, connect, subscribed


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_nul_in_a_subscription_argument_is_bad_user_input(
    live: Live, protocol: str
) -> None:
    customer_id = await live.customer("acme")
    async with connect(live, protocol) as session:
        refused = Stream(session, BALANCE, customerId=customer_id, currency="US\x00D")
        error = await refused.error()
        balances = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        assert await balances.next() == balance("0.00", 0)
        await balances.close()
    await subscribed(live, 0)

    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["message"] == (
        "Argument currency of creditBalanceChanged: "
        "must not contain control characters (found U+0000)"
    )
