"""Two server processes on one PostgreSQL database keep DESIGN §8 and §9: live updates
cross processes through LISTEN/NOTIFY, the customer row lock serializes writers of both,
keys stop duplicates across them, and each scheduled event is booked once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.ledger import OPEN
from app.domain.time import SystemClock, format_instant
from app.live.publisher import publisher_for
from app.services.currencies import CurrencyCatalog
from app.services.grants import GrantRequest, grant_promotional_credits
from app.services.runtime import Runtime
from app.storage.engine import create_engine
from tests.live.support import BALANCE, ENTRIES, GRANTS, Stream
from tests.scale.support import (
    BALANCE as BALANCE_QUERY,
)
from tests.scale.support import (
    CREATE_CUSTOMER,
    PROMOTE,
    PURCHASE,
    Server,
    burst,
    connect,
    consume,
    customer_with_credits,
    eventually,
    fresh_client,
    listener_pids,
    sql,
    until_listeners,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")  # the servers are the module's


async def test_a_subscriber_on_one_process_receives_every_entry_committed_through_the_other(
    servers: tuple[Server, Server], cluster_database: str
) -> None:
    first, second = servers
    customer_id = await customer_with_credits(second, "streamed", "100")
    async with connect(first) as session, connect(first) as other:
        streams = [
            Stream(socket, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
            for socket in (session, other)
        ]
        for stream in streams:
            assert (await stream.next())["sequence"] == 1  # the grant, replayed: it listens

        await burst(second, customer_id, range(60))

        for stream in streams:  # two subscribers share each read: both get it all
            received = await stream.take(60)
            assert [entry["sequence"] for entry in received] == list(range(2, 62))
            assert {entry["type"] for entry in received} == {"CONSUMED"}
            await stream.quiet(1.0)
            await stream.close()


async def test_a_hundred_concurrent_consumptions_of_one_against_twenty_across_both_draw_twenty(
    servers: tuple[Server, Server], cluster_database: str
) -> None:
    first, second = servers
    customer_id = await customer_with_credits(first, "drawn", "20")
    async with fresh_client(first) as one, fresh_client(second) as two:
        results = await asyncio.gather(
            *(consume((one, two)[n % 2], customer_id, f"draw-{n}", "1") for n in range(100))
        )
        data = await one.post(
            "/graphql", json={"query": BALANCE_QUERY, "variables": {"id": customer_id}}
        )

    assert results.count("ConsumeCreditsSuccess") == 20
    assert results.count("InsufficientCreditsError") == 80
    assert data.json()["data"]["customer"]["creditBalance"] == {"available": "0.00", "sequence": 21}
    rows = await sql(
        cluster_database,
        "SELECT sequence FROM ledger_entry WHERE customer_id = :id ORDER BY sequence",
        id=customer_id,
    )
    assert [row.sequence for row in rows] == list(range(1, 22))


async def test_twenty_identical_keyed_purchases_across_both_make_one_grant(
    servers: tuple[Server, Server], cluster_database: str
) -> None:
    first, second = servers
    data = await first.post(CREATE_CUSTOMER, key="purchaser")
    customer_id = data["createCustomer"]["customer"]["id"]
    purchase = {
        "customerId": customer_id,
        "key": "order-1",
        "name": "pack",
        "currency": "USD",
        "amount": "50",
        "fundingMethod": "INVOICE",
    }
    async with fresh_client(first) as one, fresh_client(second) as two:
        responses = await asyncio.gather(
            *(
                (one, two)[n % 2].post(
                    "/graphql", json={"query": PURCHASE, "variables": {"input": purchase}}
                )
                for n in range(20)
            )
        )
    results = [response.json()["data"]["purchaseCredits"] for response in responses]

    assert {result["__typename"] for result in results} == {"CreditGrantSuccess"}
    assert len({result["grant"]["id"] for result in results}) == 1
    assert sorted(result["replayed"] for result in results) == [False] + [True] * 19
    rows = await sql(
        cluster_database,
        "SELECT count(*) AS n FROM credit_grant WHERE customer_id = :id",
        id=customer_id,
    )
    assert rows[0].n == 1


async def test_scheduled_expiries_are_booked_once_with_both_schedulers_running(
    servers: tuple[Server, Server], cluster_database: str
) -> None:
    """Twenty grants expire at one instant; both processes' schedulers race to book them
    and nothing else touches these customers (reading straight from the database books
    nothing). No other test of this module makes a grant that expires."""
    first, second = servers
    made = [
        await (first, second)[n % 2].post(CREATE_CUSTOMER, key=f"expiring-{n}") for n in range(20)
    ]
    customer_ids = [data["createCustomer"]["customer"]["id"] for data in made]
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)

    async def expiring_grant(n: int) -> None:
        grant = {
            "customerId": customer_ids[n],
            "name": "trial",
            "currency": "USD",
            "amount": "5",
            "expiresAt": format_instant(expires_at),
        }
        data = await (first, second)[n % 2].post(PROMOTE, input=grant)
        assert data["grantPromotionalCredits"]["__typename"] == "CreditGrantSuccess"

    await asyncio.gather(*(expiring_grant(n) for n in range(20)))
    assert datetime.now(UTC) < expires_at, "the grants were made too slowly for this test"
    count_expired = (
        "SELECT customer_id, count(*) AS n FROM ledger_entry WHERE type = 'EXPIRED'"
        " GROUP BY customer_id"
    )

    await eventually(
        lambda: sql(cluster_database, count_expired), lambda rows: len(rows) == 20, "expiries"
    )
    await asyncio.sleep(2)  # both schedulers tick several more times

    rows = await sql(cluster_database, count_expired)
    assert sorted(row.customer_id for row in rows) == sorted(customer_ids)
    assert {row.n for row in rows} == {1}
    booked = await sql(
        cluster_database, "SELECT DISTINCT booked_at FROM ledger_entry WHERE type = 'EXPIRED'"
    )
    assert [row.booked_at for row in booked] == [expires_at]


async def test_losing_the_listening_connections_during_a_burst_loses_no_entry(
    servers: tuple[Server, Server], cluster_database: str
) -> None:
    """Both processes' listening connections are terminated mid-burst: they reconnect and
    refill every open subscription from the database by sequence."""
    first, second = servers
    customer_id = await customer_with_credits(second, "unheard", "100")
    async with connect(first) as session:
        entries = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
        balances = Stream(session, BALANCE, customerId=customer_id, currency="USD")
        grants = Stream(session, GRANTS, customerId=customer_id)
        assert (await entries.next())["sequence"] == 1
        assert (await balances.next())["sequence"] == 1
        before = await listener_pids(cluster_database)

        writing = asyncio.create_task(burst(second, customer_id, range(80), at_once=2))
        await asyncio.sleep(0.3)
        terminated = await sql(
            cluster_database,
            "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity"
            " WHERE application_name = 'credits-listener' AND datname = current_database()",
        )
        assert [row.done for row in terminated] == [True, True]
        assert not writing.done(), "the burst ended before the listeners were lost"
        await writing

        received = await entries.take(80, within=30)
        assert [entry["sequence"] for entry in received] == list(range(2, 82))
        await entries.quiet(1.0)
        last = (await balances.until(lambda balance: balance["sequence"] == 81))[-1]
        assert (last["available"], last["sequence"]) == ("99.20", 81)
        # a Resync may send a grant again
        grant = (await grants.until(lambda grant: grant["consumed"] == "0.80"))[-1]
        assert (grant["remaining"], grant["consumed"]) == ("99.20", "0.80")
        after = await until_listeners(cluster_database, 2)
        assert set(after).isdisjoint(before)  # both reconnected
        for server in servers:
            assert any("listening connection" in line for line in server.output), server.output
        await entries.close()
        await balances.close()
        await grants.close()


async def test_a_change_naming_too_many_grants_for_one_notice_still_reaches_every_stream(
    servers: tuple[Server, Server], cluster_database: str
) -> None:
    """One consumption drains 250 grants: their ids do not fit in a notice, which then says
    "re-read"; subscribers on the other process still get every entry and every grant. (The
    grants are made in this test process, as the command line would, with the notifier.)"""
    first, second = servers
    data = await first.post(CREATE_CUSTOMER, key="many-grants")
    customer_id = data["createCustomer"]["customer"]["id"]
    engine = create_engine(cluster_database)
    clock = SystemClock()
    writer = Runtime(engine, clock, CurrencyCatalog(engine), publisher_for(cluster_database))
    for n in range(250):
        request = GrantRequest(
            customer_id=customer_id, name=f"cent {n}", currency="USD", amount=Decimal("0.01")
        )
        await grant_promotional_credits(writer, actor=OPEN, request=request)
    await engine.dispose()
    async with connect(first) as session:
        entries = Stream(session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0)
        grants = Stream(session, GRANTS, customerId=customer_id)
        assert len(await entries.take(250)) == 250  # replayed: it is listening
        cent = {"customerId": customer_id, "name": "cent", "currency": "USD", "amount": "0.01"}
        await second.post(PROMOTE, input=cent)
        assert (await grants.next())["name"] == "cent"  # it is listening too
        assert (await entries.next())["sequence"] == 251

        async with fresh_client(second) as client:
            assert await consume(client, customer_id, "all", "2.51") == "ConsumeCreditsSuccess"

        received = await entries.take(251)
        assert [entry["sequence"] for entry in received] == list(range(252, 503))
        changed = await grants.take(251)
        assert len({grant["id"] for grant in changed}) == 251
        assert {(grant["remaining"], grant["consumed"]) for grant in changed} == {("0.00", "0.01")}
        await grants.quiet(1.0)
        await entries.close()
        await grants.close()
