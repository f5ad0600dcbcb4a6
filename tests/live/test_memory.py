"""A long-lived subscription holds no more memory after many events than after a few
(issue 3: memory never grows without bound)."""

from __future__ import annotations

import gc

from graphql.execution.collect_fields import CollectedFields

from tests.live.support import ENTRIES, Live, Stream, connect


def live_collected_fields() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, CollectedFields))


async def test_the_server_holds_no_more_per_subscription_after_many_events(live: Live) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "1000")
    async with connect(live) as session:
        stream = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
        await stream.take(1)
        for n in range(20):
            await live.consume(customer_id, f"warm-{n}", "1")
        await stream.take(20)
        before = live_collected_fields()

        for n in range(100):
            await live.consume(customer_id, f"c{n}", "1")
        await stream.take(100)
        after = live_collected_fields()
        await stream.close()
    assert after - before < 10, f"{after - before} more CollectedFields after 100 events"
