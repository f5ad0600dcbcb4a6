"""Operations over a WebSocket other than subscriptions read the database as it is when
they run, not through loaders kept for the socket (live events no longer refresh them)."""

from __future__ import annotations

from gql import GraphQLRequest

from tests.live.support import TRANSPORT_WS, Live, connect

QUERY = """query($id: ID!) { customer(id: $id) { creditBalance(currency: "USD") { available } } }"""


async def test_a_query_over_a_websocket_reads_what_is_there_now(live: Live) -> None:
    customer_id = await live.customer("acme")
    await live.promote(customer_id, "10")
    async with connect(live, TRANSPORT_WS) as session:
        first = await session.execute(GraphQLRequest(QUERY, variable_values={"id": customer_id}))
        await live.promote(customer_id, "5")
        second = await session.execute(GraphQLRequest(QUERY, variable_values={"id": customer_id}))
    assert [first, second] == [
        {"customer": {"creditBalance": {"available": "10.00"}}},
        {"customer": {"creditBalance": {"available": "15.00"}}},
    ]
