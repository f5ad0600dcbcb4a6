"""Tools of the access tests: a world of two customers and every kind of caller, HTTP
requests with credentials, a uvicorn server on a real loopback socket, and a small raw
graphql-transport-ws client that shows every message and close code as it is."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from graphql import GraphQLObjectType
from sqlalchemy import select
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

from app.api.schema import get_schema
from app.domain.access import Role
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.broker import MemoryBroker
from app.main import create_app
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from app.services.keys import create_key, revoke_key
from app.services.portal import sign_token
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.engine import read_connection
from app.storage.tables import entries
from tests.api.conftest import create_schema

TIMEOUT = 5.0  # seconds any one expected message may take
TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

# The callers of the matrix: no credentials while keys exist, one key of each role, a
# revoked key, and customer A's portal token asking about customer B, then about A.
CALLERS = ("none", "admin", "writer", "reader", "revoked", "portal_other", "portal_own")
KEY_NAMES = {"admin": "ops-admin", "writer": "billing", "reader": "finance", "revoked": "old"}
ROLES = {"admin": Role.ADMIN, "writer": Role.WRITER, "reader": Role.READER, "revoked": Role.ADMIN}


@dataclass(frozen=True)
class Party:
    """One customer of the world and the IDs a caller might guess: its USD grant of 100,
    one consumption of 5 from it, and the FUNDED and CONSUMED entries on it."""

    customer: str
    key: str
    grant: str
    consumption: str
    funded: str
    consumed: str


@dataclass(frozen=True)
class World:
    a: Party
    b: Party
    secrets: dict[str, str]  # caller -> API key secret
    key_ids: dict[str, str]  # caller -> API key id
    portal_token: str  # customer A's

    def authorization(self, caller: str) -> str | None:
        if caller == "none":
            return None
        if caller.startswith("portal"):
            return f"Bearer {self.portal_token}"
        return f"Bearer {self.secrets[caller]}"

    def target(self, caller: str) -> Party:
        """Whom the caller asks about: its own customer for `portal_own`, else B."""
        return self.a if caller == "portal_own" else self.b


async def make_party(runtime: Runtime, key: str) -> Party:
    customer_id, _ = await create_customer(runtime, key=key, name=key.title())
    request = GrantRequest(
        customer_id=customer_id, key="world", name="world", currency="USD", amount=Decimal(100)
    )
    grant = await grant_promotional_credits(runtime, actor=OPEN, request=request)
    use = ConsumeRequest(customer_id=customer_id, key="world", currency="USD", amount=Decimal(5))
    consumption = await consume_credits(runtime, actor=OPEN, request=use)
    async with read_connection(runtime.engine) as connection:
        rows = await connection.execute(
            select(entries.c.id, entries.c.type)
            .where(entries.c.customer_id == customer_id)
            .order_by(entries.c.sequence)
        )
        found = {row.type: str(row.id) for row in rows}
    return Party(
        customer=customer_id,
        key=key,
        grant=grant.grant_id,
        consumption=consumption.consumption_id,
        funded=found["FUNDED"],
        consumed=found["CONSUMED"],
    )


async def build_world(app: Starlette) -> World:
    """Customers A ("alpha") and B ("bravo"), one key per role, a revoked key, A's token."""
    runtime: Runtime = app.state.runtime
    now = runtime.clock.now()
    a = await make_party(runtime, "alpha")
    b = await make_party(runtime, "bravo")
    secrets: dict[str, str] = {}
    key_ids: dict[str, str] = {}
    for caller, name in KEY_NAMES.items():
        key_ids[caller], secrets[caller] = await create_key(
            runtime.engine, name=name, role=ROLES[caller], now=now
        )
    assert await revoke_key(runtime.engine, key_ids["revoked"], now)
    signing_key = await app.state.authenticator.signing_keys.current(now)
    token = sign_token(a.customer, now + timedelta(hours=1), signing_key)
    return World(a, b, secrets, key_ids, token)


async def promote(runtime: Runtime, customer_id: str, amount: str, currency: str) -> str:
    request = GrantRequest(
        customer_id=customer_id, name="extra", currency=currency, amount=Decimal(amount)
    )
    return (await grant_promotional_credits(runtime, actor=OPEN, request=request)).grant_id


# ---------------------------------------------------------------- HTTP


async def post(
    client: httpx.AsyncClient, authorization: str | None, query: str, **variables: Any
) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def data_of(
    client: httpx.AsyncClient, authorization: str | None, query: str, **variables: Any
) -> dict[str, Any]:
    """The data of a request that must succeed: 200 and no errors."""
    response = await post(client, authorization, query, **variables)
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def assert_unauthenticated(response: httpx.Response) -> None:
    """HTTP 401 with one UNAUTHENTICATED GraphQL error and no data."""
    body = response.json()
    assert response.status_code == 401, body
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["data"] is None
    assert [error["extensions"] for error in body["errors"]] == [{"code": "UNAUTHENTICATED"}]


# ---------------------------------------------------------------- a real socket


@dataclass
class Live:
    app: Starlette
    runtime: Runtime
    broker: MemoryBroker
    url: str  # ws://127.0.0.1:PORT/graphql
    http_url: str
    clock: FrozenClock

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.http_url)


@contextlib.asynccontextmanager
async def serve(path: Path, clock: FrozenClock, **settings: Any) -> AsyncIterator[Live]:
    """The app under uvicorn on 127.0.0.1, port 0, with uvicorn's ws_max_size taken from
    the settings (as `credits serve` does), until the block ends. SQLite in `path` unless
    the settings name a `database_url`."""
    url = settings.pop("database_url", None) or f"sqlite:///{path}/credits.db"
    await create_schema(url)
    configured = Settings(database_url=url, scheduler_enabled=False, **settings)
    broker = MemoryBroker()
    app = create_app(configured, clock=clock, publisher=broker)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        log_level="warning",
        ws_max_size=configured.max_ws_message_bytes,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(TIMEOUT):
            while not server.started:
                assert not task.done(), "uvicorn stopped before it started"
                await asyncio.sleep(0.005)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield Live(
            app=app,
            runtime=app.state.runtime,
            broker=broker,
            url=f"ws://{host}:{port}/graphql",
            http_url=f"http://{host}:{port}",
            clock=clock,
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class Closed(Exception):
    """The server closed the WebSocket."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class Socket:
    """A raw WebSocket speaking graphql-transport-ws (or graphql-ws) message by message."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.by_id: dict[str | None, list[dict[str, Any]]] = defaultdict(list)

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def init(self, authorization: str | None) -> dict[str, Any]:
        """Sends connection_init and answers the server's reply (Closed if it closed)."""
        payload = {} if authorization is None else {"Authorization": authorization}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive(None)

    async def subscribe(self, id: str, query: str, **variables: Any) -> None:
        payload = {"query": query, "variables": variables}
        await self.send({"id": id, "type": "subscribe", "payload": payload})

    async def receive(self, id: str | None) -> dict[str, Any]:
        """The next message about operation `id` (None: about the connection)."""
        while not self.by_id[id]:
            message = json.loads(await self._recv())
            if message.get("type") in ("ping", "pong", "ka"):
                continue
            self.by_id[message.get("id")].append(message)
        return self.by_id[id].pop(0)

    async def closed(self) -> Closed:
        """Waits for the server to close the socket; any message meanwhile is a failure."""
        try:
            message = await self._recv()
        except Closed as closed:
            return closed
        raise AssertionError(f"expected the server to close the socket, got {message!r}")

    async def _recv(self) -> str | bytes:
        try:
            return await asyncio.wait_for(self.connection.recv(), TIMEOUT)
        except ConnectionClosed as error:
            frame = error.rcvd
            raise Closed(
                None if frame is None else frame.code, "" if frame is None else frame.reason
            ) from error


@contextlib.asynccontextmanager
async def websocket(
    live: Live, protocol: str = TRANSPORT_WS, origin: str | None = None
) -> AsyncIterator[Socket]:
    async with connect(
        live.url,
        subprotocols=[Subprotocol(protocol)],
        origin=None if origin is None else Origin(origin),
        open_timeout=TIMEOUT,
        close_timeout=2,
        max_size=None,
    ) as connection:
        yield Socket(connection)


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Waits (at most TIMEOUT) until the predicate holds."""
    for _ in range(int(TIMEOUT / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting until {what}")


def root_fields(root: str) -> set[str]:
    """The fields of the server's Query, Mutation or Subscription type."""
    found = get_schema()._schema.type_map[root]
    assert isinstance(found, GraphQLObjectType)
    return set(found.fields)


def next_data(message: dict[str, Any], id: str) -> Any:
    """The data of a `next` message without errors for operation `id`."""
    assert message["type"] == "next" and message["id"] == id, message
    assert "errors" not in message["payload"], message["payload"]["errors"]
    return message["payload"]["data"]


def error_codes(message: dict[str, Any], id: str) -> list[str]:
    """The codes of the errors that ended operation `id` (a `next` with errors only)."""
    assert message["type"] == "next" and message["id"] == id, message
    assert message["payload"]["data"] is None, message
    return [error["extensions"]["code"] for error in message["payload"]["errors"]]
