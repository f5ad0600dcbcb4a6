"""At most 100 subscriptions per WebSocket (DESIGN §11): one more is a LIMIT_EXCEEDED
error that ends only that operation."""

from __future__ import annotations

from tests.live.support import ENTRIES, Live, Stream, connect, subscribed

LIMIT = 100


async def test_the_101st_subscription_on_one_socket_is_refused_and_the_others_keep_working(
    live: Live,
) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live) as session, connect(live) as another:
        streams = [
            Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
            for _ in range(LIMIT)
        ]
        for stream in streams:
            assert (await stream.next())["sequence"] == 1
        await subscribed(live, LIMIT)

        refused = Stream(session, ENTRIES, customerId=customer_id)
        error = await refused.error()
        assert error["extensions"] == {"code": "LIMIT_EXCEEDED"}
        assert str(LIMIT) in error["message"]
        # The limit is per socket; and a completed subscription makes room again.
        elsewhere = Stream(
            another, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0
        )
        assert (await elsewhere.next())["sequence"] == 1
        await streams.pop().close()
        again = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
        assert (await again.next())["sequence"] == 1
        await subscribed(live, LIMIT + 1)

        await live.consume(customer_id, "c1", "1")
        for stream in [*streams, elsewhere, again]:
            assert (await stream.next())["sequence"] == 2
        for stream in [*streams, elsewhere, again]:
            await stream.close()
    await subscribed(live, 0)
