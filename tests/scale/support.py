"""Tools of the scale tests: real `credits serve` processes on one PostgreSQL database,
GraphQL over HTTP and WebSockets to each, and reads straight from the database (which,
unlike a request, book nothing that is due)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from gql import Client
from gql.client import AsyncClientSession
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import text

from app.live.postgres import APPLICATION_NAME
from app.storage.engine import create_engine
from tests.live.support import TRANSPORT_WS

T = TypeVar("T")
CREDITS = str(Path(sys.executable).parent / "credits")
LISTENING = re.compile(r"(?:listening on|workers on) (http://\S+)/graphql")

CREATE_CUSTOMER = """
mutation Create($key: String!) {
  createCustomer(input: {key: $key, name: $key}) {
    ... on CreateCustomerSuccess { customer { id } }
  }
}"""

PROMOTE = """
mutation Promote($input: GrantPromotionalCreditsInput!) {
  grantPromotionalCredits(input: $input) {
    __typename ... on CreditGrantSuccess { grant { id } }
  }
}"""

PURCHASE = """
mutation Purchase($input: PurchaseCreditsInput!) {
  purchaseCredits(input: $input) {
    __typename ... on CreditGrantSuccess { grant { id } replayed }
  }
}"""

CONSUME = """
mutation Consume($input: ConsumeCreditsInput!) {
  consumeCredits(input: $input) { __typename }
}"""

BALANCE = """
query Balance($id: ID!) {
  customer(id: $id) { creditBalance(currency: "USD") { available sequence } }
}"""


@dataclass
class Server:
    """One `credits serve` process (or a parent of several workers)."""

    process: asyncio.subprocess.Process
    http_url: str
    output: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self.http_url.replace("http://", "ws://") + "/graphql"

    async def post(self, query: str, **variables: Any) -> dict[str, Any]:
        async with fresh_client(self) as client:
            return await post(client, query, **variables)


async def post(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def fresh_client(server: Server) -> httpx.AsyncClient:
    """A client that opens a new connection per request, so requests to a port served by
    several workers spread over them."""
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(base_url=server.http_url, limits=limits, timeout=30)


async def start_server(
    database_url: str, *, port: int = 0, workers: int = 1, **settings: str
) -> Server:
    """`credits serve` in OPEN mode on loopback; returns once it answers /readyz.
    `settings`: more CREDITS_* variables, by their lowercase names."""
    environment = os.environ | {
        "CREDITS_DATABASE_URL": database_url,
        "CREDITS_SCHEDULER_INTERVAL": "0.2",
        "CREDITS_LOG_LEVEL": "warning",
        **{f"CREDITS_{name.upper()}": value for name, value in settings.items()},
    }
    arguments = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process = await asyncio.create_subprocess_exec(
        CREDITS,
        *arguments,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    http_url = await asyncio.wait_for(announced(process, output), 30)
    server = Server(process, http_url, output)
    server.drain = asyncio.create_task(keep_reading(process, output))
    await ready(server)
    return server


async def announced(process: asyncio.subprocess.Process, output: list[str]) -> str:
    assert process.stdout is not None
    while line := (await process.stdout.readline()).decode():
        output.append(line)
        if match := LISTENING.search(line):
            return match.group(1)
    raise AssertionError("the server stopped before it listened:\n" + "".join(output))


async def keep_reading(process: asyncio.subprocess.Process, output: list[str]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        output.append(line.decode())


async def ready(server: Server, within: float = 30.0) -> None:
    async with asyncio.timeout(within), fresh_client(server) as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


async def stop_server(server: Server) -> None:
    """SIGTERM: uvicorn shuts down gracefully, the lifespan stops the listener."""
    if server.process.returncode is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(server.process.wait(), 15)
        except TimeoutError:
            server.process.kill()
            await server.process.wait()
    if server.drain is not None:
        await server.drain


@contextlib.asynccontextmanager
async def connect(server: Server) -> AsyncIterator[AsyncClientSession]:
    transport = WebsocketsTransport(url=server.url, subprotocols=[TRANSPORT_WS], close_timeout=2)
    async with Client(transport=transport) as session:
        assert isinstance(session, AsyncClientSession)
        yield session


async def sql(database_url: str, statement: str, **parameters: Any) -> list[Any]:
    """Rows of one statement, read straight from the database."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = list(await connection.execute(text(statement), parameters))
            await connection.commit()
            return rows
    finally:
        await engine.dispose()


async def listener_pids(database_url: str) -> list[int]:
    """The backends of the servers' listening connections to this database."""
    rows = await sql(
        database_url,
        "SELECT pid FROM pg_stat_activity"
        " WHERE application_name = :name AND datname = current_database()",
        name=APPLICATION_NAME,
    )
    return sorted(row.pid for row in rows)


async def eventually(
    read: Callable[[], Awaitable[T]], holds: Callable[[T], bool], what: str, within: float = 30.0
) -> T:
    """Reads again every 0.1 s until what it reads holds."""
    deadline = asyncio.get_running_loop().time() + within
    while not holds(value := await read()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last read {value!r}")
        await asyncio.sleep(0.1)
    return value


async def until_listeners(database_url: str, count: int) -> list[int]:
    return await eventually(
        lambda: listener_pids(database_url), lambda pids: len(pids) == count, f"{count} listeners"
    )


async def customer_with_credits(server: Server, key: str, amount: str) -> str:
    data = await server.post(CREATE_CUSTOMER, key=key)
    customer_id: str = data["createCustomer"]["customer"]["id"]
    grant = {"customerId": customer_id, "name": "promo", "currency": "USD", "amount": amount}
    data = await server.post(PROMOTE, input=grant)
    assert data["grantPromotionalCredits"]["__typename"] == "CreditGrantSuccess"
    return customer_id


async def consume(client: httpx.AsyncClient, customer_id: str, key: str, amount: str) -> str:
    """The result's type name: ConsumeCreditsSuccess or the error's."""
    variables = {"customerId": customer_id, "key": key, "currency": "USD", "amount": amount}
    data = await post(client, CONSUME, input=variables)
    kind: str = data["consumeCredits"]["__typename"]
    return kind


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def worker_serving(server: Server, client_port: int) -> int:
    """The worker process that holds the server side of a loopback TCP connection."""
    server_port = int(server.http_url.rsplit(":", 1)[1])
    wanted = f"0100007F:{server_port:04X} 0100007F:{client_port:04X}"
    inodes = {
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if " ".join(line.split()[1:3]) == wanted
    }
    assert len(inodes) == 1, f"no single server side for client port {client_port}"
    link = f"socket:[{inodes.pop()}]"
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    for pid in children.read_text().split():
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == link for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return int(pid)
    raise AssertionError(f"no worker of {server.process.pid} holds {link}")


async def burst(server: Server, customer_id: str, keys: range, *, at_once: int = 5) -> None:
    """Consumptions of 0.01 committed through `server`, a few at a time."""
    async with fresh_client(server) as client:
        for start in range(keys.start, keys.stop, at_once):
            batch = range(start, min(start + at_once, keys.stop))
            results = await asyncio.gather(
                *(consume(client, customer_id, f"use-{n}", "0.01") for n in batch)
            )
            assert set(results) == {"ConsumeCreditsSuccess"}
