"""Credentials hold for a WebSocket's whole life (DESIGN §10): a revoked API key or an
expired portal token gets no further event and no new subscription, and its socket is
closed with 4403 within a second of the revocation (through this process or another) or
of the expiry instant. Over a real socket, one server per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.customers import create_customer
from app.services.keys import create_key, revoke_key
from app.services.portal import sign_token
from app.storage.engine import create_engine
from tests.access.support import (
    LEGACY_WS,
    Closed,
    Live,
    Socket,
    next_data,
    promote,
    serve,
    until,
    websocket,
)
from tests.api.conftest import START
from tests.databases import empty_postgres_async

BALANCE = """
subscription($c: ID!) { creditBalanceChanged(customerId: $c, currency: "USD") { available } }"""


def balance(available: str) -> dict[str, Any]:
    return {"creditBalanceChanged": {"available": available}}


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """SQLite in the test's folder, or a scratch PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/credits.db"
        return
    async with empty_postgres_async(request.getfixturevalue("postgres_url"), "credits_test") as url:
        yield url


@pytest.fixture
async def live(tmp_path: Path, database_url: str) -> AsyncIterator[Live]:
    async with serve(tmp_path, FrozenClock(START), database_url=database_url) as running:
        yield running


async def new_key(live: Live, name: str) -> tuple[str, str]:
    """A READER key's id and its Authorization value."""
    key_id, secret = await create_key(
        live.runtime.engine, name=name, role=Role.READER, now=live.clock.now()
    )
    return key_id, f"Bearer {secret}"


async def portal_token(live: Live, customer_id: str, lifetime: timedelta) -> str:
    keys = live.app.state.authenticator.signing_keys
    token = sign_token(customer_id, START + lifetime, await keys.current(live.clock.now()))
    return f"Bearer {token}"


async def subscribed(
    live: Live, socket: Socket, authorization: str | None, customer_id: str
) -> None:
    """Socket initialised with these credentials and subscribed to the USD balance (5.00)."""
    assert await socket.init(authorization) == {"type": "connection_ack"}
    await socket.subscribe("1", BALANCE, c=customer_id)
    assert next_data(await socket.receive("1"), "1") == balance("5.00")


async def closed_within(socket: Socket, seconds: float) -> Closed:
    """The close that ends the socket, with nothing sent before it, within `seconds`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    closed = await socket.closed()
    assert loop.time() - started < seconds, f"closed after {loop.time() - started:.2f} s"
    return closed


async def customer(live: Live, key: str) -> str:
    customer_id, _ = await create_customer(live.runtime, key=key, name=key.title())
    await promote(live.runtime, customer_id, "5", "USD")
    return customer_id


async def test_a_revoked_key_s_socket_closes_with_4403_within_a_second_and_others_stay(
    live: Live,
) -> None:
    customer_id = await customer(live, "acme")
    revoked_id, revoked = await new_key(live, "old")
    _, kept = await new_key(live, "kept")
    async with websocket(live) as socket, websocket(live) as other:
        await subscribed(live, socket, revoked, customer_id)
        await subscribed(live, other, kept, customer_id)

        assert await revoke_key(live.runtime.engine, revoked_id, live.clock.now())
        closed = await closed_within(socket, 1.0)
        assert (closed.code, closed.reason) == (4403, "Credentials revoked or expired")
        await until(lambda: live.broker.subscriber_count() == 1, "the revoked one released")

        await promote(live.runtime, customer_id, "2", "USD")
        assert next_data(await other.receive("1"), "1") == balance("7.00")


async def test_a_key_revoked_through_another_process_closes_the_socket(
    live: Live, database_url: str
) -> None:
    customer_id = await customer(live, "acme")
    key_id, authorization = await new_key(live, "ops")
    elsewhere = create_engine(database_url)  # an engine of its own, as `credits keys revoke`
    try:
        async with websocket(live) as socket:
            await subscribed(live, socket, authorization, customer_id)
            assert await revoke_key(elsewhere, key_id, live.clock.now())
            assert (await closed_within(socket, 1.0)).code == 4403
    finally:
        await elsewhere.dispose()
    await until(lambda: live.broker.subscriber_count() == 0, "the subscription released")


async def test_a_portal_token_s_socket_closes_within_a_second_of_its_expiry(live: Live) -> None:
    customer_id = await customer(live, "acme")
    authorization = await portal_token(live, customer_id, timedelta(minutes=5))
    async with websocket(live) as socket:
        await subscribed(live, socket, authorization, customer_id)
        live.clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
        await asyncio.sleep(1.2)  # more than two ticks of the watcher: still open
        await promote(live.runtime, customer_id, "1", "USD")
        assert next_data(await socket.receive("1"), "1") == balance("6.00")

        live.clock.advance(timedelta(seconds=1))  # the expiry instant
        closed = await closed_within(socket, 1.0)
        assert (closed.code, closed.reason) == (4403, "Credentials revoked or expired")
    await until(lambda: live.broker.subscriber_count() == 0, "the subscription released")


async def test_an_expired_portal_token_gets_no_further_event(live: Live) -> None:
    customer_id = await customer(live, "acme")
    authorization = await portal_token(live, customer_id, timedelta(minutes=5))
    async with websocket(live) as socket:
        await subscribed(live, socket, authorization, customer_id)
        live.clock.advance(timedelta(minutes=5))
        await promote(live.runtime, customer_id, "1", "USD")  # before the watcher's tick
        assert (await closed_within(socket, 1.0)).code == 4403


async def test_an_expired_portal_token_starts_no_new_subscription(live: Live) -> None:
    customer_id = await customer(live, "acme")
    authorization = await portal_token(live, customer_id, timedelta(minutes=5))
    async with websocket(live) as socket:
        await subscribed(live, socket, authorization, customer_id)
        live.clock.advance(timedelta(minutes=5))
        await socket.subscribe("2", BALANCE, c=customer_id)  # before the watcher's tick
        assert (await closed_within(socket, 1.0)).code == 4403
    await until(lambda: live.broker.subscriber_count() == 0, "nothing held")


async def test_the_first_key_closes_the_sockets_opened_in_open_mode(live: Live) -> None:
    customer_id = await customer(live, "acme")
    async with websocket(live) as socket:
        await subscribed(live, socket, None, customer_id)  # no credentials: OPEN mode
        await new_key(live, "first")
        assert (await closed_within(socket, 1.0)).code == 4403
    async with websocket(live) as socket:
        with pytest.raises(Closed) as refused:
            await socket.init(None)
        assert refused.value.code == 4403


async def test_a_revoked_key_closes_a_legacy_graphql_ws_socket_too(live: Live) -> None:
    customer_id = await customer(live, "acme")
    key_id, authorization = await new_key(live, "ops")
    async with websocket(live, LEGACY_WS) as socket:
        assert await socket.init(authorization) == {"type": "connection_ack"}
        payload = {"query": BALANCE, "variables": {"c": customer_id}}
        await socket.send({"id": "1", "type": "start", "payload": payload})
        assert await socket.receive("1") == {
            "id": "1",
            "type": "data",
            "payload": {"data": balance("5.00")},
        }
        assert await revoke_key(live.runtime.engine, key_id, live.clock.now())
        assert (await closed_within(socket, 1.0)).code == 4403
