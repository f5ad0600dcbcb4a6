"""Live updates never starve requests (DESIGN §11): 4,000 subscriptions set up at once
(40 sockets of 100) against a `credits serve` process while `{ viewer { kind } }` over HTTP
keeps answering rightly all through (a process of its own asks, on both engines; its
times are printed, not judged: see `bound`), and every subscription gets its balance,
then the next."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.access.support import TRANSPORT_WS, Socket
from tests.scale.conftest import scratch_database
from tests.scale.support import announced, keep_reading

CREDITS = str(Path(sys.executable).parent / "credits")
SOCKETS = 40
PER_SOCKET = 100
CUSTOMERS = 10

BALANCE = """
subscription($c: ID!) {
  creditBalanceChanged(customerId: $c, currency: "USD") { available sequence }
}"""
CREATE_CUSTOMER = """
mutation($key: String!) {
  createCustomer(input: {key: $key, name: $key}) {
    ... on CreateCustomerSuccess { customer { id } }
  }
}"""
PROMOTE = """
mutation($input: GrantPromotionalCreditsInput!) {
  grantPromotionalCredits(input: $input) { __typename }
}"""


@dataclass
class Served:
    http_url: str
    output: list[str]

    @property
    def ws_url(self) -> str:
        return self.http_url.replace("http://", "ws://") + "/graphql"


@contextlib.asynccontextmanager
async def credits_serve(database_url: str) -> AsyncIterator[Served]:
    """`credits serve` in OPEN mode on port 0, until the block ends."""
    environment = os.environ | {
        "CREDITS_DATABASE_URL": database_url,
        "CREDITS_LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(
        CREDITS,
        *("serve", "--host", "127.0.0.1", "--port", "0"),
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    drain = None
    try:
        served = Served(await asyncio.wait_for(announced(process, output), 60), output)
        drain = asyncio.create_task(keep_reading(process, output))
        yield served
    except BaseException:
        print("".join(output)[-5000:])  # the server's log, for the failure report
        raise
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 20)
        if drain is not None:
            await drain


async def post(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def customers(client: httpx.AsyncClient) -> list[str]:
    """CUSTOMERS customers with 10.00 USD each."""
    made = []
    for n in range(CUSTOMERS):
        data = await post(client, CREATE_CUSTOMER, key=f"customer-{n}")
        made.append(data["createCustomer"]["customer"]["id"])
        await promote(client, made[-1], "10")
    return made


async def promote(client: httpx.AsyncClient, customer_id: str, amount: str) -> None:
    grant = {"customerId": customer_id, "name": "promo", "currency": "USD", "amount": amount}
    data = await post(client, PROMOTE, input=grant)
    assert data == {"grantPromotionalCredits": {"__typename": "CreditGrantSuccess"}}


class Probe:
    """tests/live/probe.py in a process of its own, from start to `stop`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seconds: list[float] = []
        self.wrong: list[str] = []

    @classmethod
    async def start(cls, http_url: str) -> Probe:
        script = str(Path(__file__).parent / "probe.py")
        process = await asyncio.create_subprocess_exec(
            sys.executable, script, http_url, stdin=PIPE, stdout=PIPE
        )
        return cls(process)

    async def stop(self) -> None:
        output, _ = await asyncio.wait_for(self.process.communicate(b""), 60)
        found = json.loads(output)
        self.seconds, self.wrong = found["seconds"], found["wrong"]


async def next_of_each(socket: Socket, count: int) -> list[dict[str, Any]]:
    """The next message of each of operations 1..count, in that order. The server starts
    4,000 subscriptions in turn: a socket may wait long for its first."""
    by_id: dict[str, dict[str, Any]] = {}
    while len(by_id) < count:
        message = json.loads(await asyncio.wait_for(socket.connection.recv(), 120))
        assert message["id"] not in by_id, message
        by_id[message["id"]] = message
    return [by_id[str(n)] for n in range(1, count + 1)]


def data_of(message: dict[str, Any]) -> Any:
    assert message["type"] == "next" and "errors" not in message["payload"], message
    return message["payload"]["data"]["creditBalanceChanged"]


def bound(database_url: str) -> float:
    """A guard against a server that stops answering during the setup, not a latency
    budget: tests never judge speed (issue 8). That requests keep their share of the
    loop while 4,000 subscriptions start is pinned by tests/live/test_setup_turns.py,
    which counts the steps begun per loop turn. Measured here on 2026-12-02, idle, the
    slowest probe took 0.16-0.87 s on SQLite; right after the parallel suite, 1.0-1.23 s."""
    return 10.0


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """SQLite in the test's folder, or a scratch PostgreSQL database migrated like a
    deployment and dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/credits.db"
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    async with scratch_database(postgres_url) as url:
        yield url


async def test_4000_subscriptions_at_once_leave_requests_their_share(database_url: str) -> None:
    async with (
        credits_serve(database_url) as served,
        httpx.AsyncClient(base_url=served.http_url, timeout=30) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        made = await customers(client)
        sockets = []
        for _ in range(SOCKETS):
            connection = await stack.enter_async_context(
                connect(served.ws_url, subprotocols=[Subprotocol(TRANSPORT_WS)], max_size=None)
            )
            sockets.append(Socket(connection))
            response = connection.response
            assert response is not None and "Sec-WebSocket-Extensions" not in response.headers
        for socket in sockets:
            assert await socket.init(None) == {"type": "connection_ack"}

        probe = await Probe.start(served.http_url)
        for s, socket in enumerate(sockets):
            messages = [
                {
                    "id": str(n),
                    "type": "subscribe",
                    "payload": {"query": BALANCE, "variables": {"c": made[(s + n) % CUSTOMERS]}},
                }
                for n in range(1, PER_SOCKET + 1)
            ]
            for message in messages:
                await socket.connection.send(json.dumps(message))
        firsts = await asyncio.gather(*(next_of_each(s, PER_SOCKET) for s in sockets))
        await probe.stop()

        assert [data_of(m) for ms in firsts for m in ms] == [
            {"available": "10.00", "sequence": 1}
        ] * (SOCKETS * PER_SOCKET)
        assert probe.wrong == []
        assert len(probe.seconds) >= 5, probe.seconds  # it probed all through the setup
        print(f"{len(probe.seconds)} probes, slowest {max(probe.seconds):.3f} s")  # with -s
        assert max(probe.seconds) < bound(database_url), sorted(probe.seconds)[-5:]

        for customer_id in made:
            await promote(client, customer_id, "1")
        nexts = await asyncio.gather(*(next_of_each(s, PER_SOCKET) for s in sockets))
        assert [data_of(m) for ms in nexts for m in ms] == [
            {"available": "11.00", "sequence": 2}
        ] * (SOCKETS * PER_SOCKET)
