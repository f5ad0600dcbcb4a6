"""The JavaScript reference client, npm `graphql-ws` over `ws` in Node, against a real socket.

Most dashboards subscribe with this client, so it gets its own end-to-end test: uvicorn
serves the app on port 0 in-process and `tests/node/balance_subscription.mjs` subscribes
to `creditBalanceChanged` and prints each payload as a JSON line.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.domain.ledger import OPEN
from app.live.broker import MemoryBroker
from app.main import create_app
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from app.services.runtime import Runtime
from app.settings import Settings
from tests.api.conftest import create_schema

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tests" / "node" / "balance_subscription.mjs"
NODE = shutil.which("node")
GRAPHQL_WS = ROOT / "node_modules" / "graphql-ws" / "package.json"
TIMEOUT = 20.0  # seconds; the Node client gives up after the same time

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="`node` is not on PATH (Node 20+ runs graphql-ws)"),
    pytest.mark.skipif(
        not GRAPHQL_WS.exists(),
        reason="node_modules/graphql-ws is missing: run `npm ci` (`scripts/install test` does)",
    ),
]


@dataclass
class Server:
    url: str
    runtime: Runtime
    broker: MemoryBroker


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    database_url = f"sqlite:///{tmp_path}/credits.db"
    await create_schema(database_url)
    broker = MemoryBroker()
    app = create_app(Settings(database_url=database_url, scheduler_enabled=False), publisher=broker)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    task = asyncio.create_task(uvicorn_server.serve())
    try:
        async with asyncio.timeout(TIMEOUT):
            while not uvicorn_server.started:
                assert not task.done(), "uvicorn stopped before it started"
                await asyncio.sleep(0.01)
        port = uvicorn_server.servers[0].sockets[0].getsockname()[1]
        yield Server(f"ws://127.0.0.1:{port}/graphql", app.state.runtime, broker)
    finally:
        uvicorn_server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)


async def finish(process: asyncio.subprocess.Process) -> tuple[str, str]:
    """Wait for the client to exit; return the rest of its stdout and its stderr."""
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT + 5)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return out.decode(), err.decode()


def balance(line: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(line)
    assert "errors" not in payload, payload
    event: dict[str, Any] = payload["data"]["creditBalanceChanged"]
    return event


async def test_graphql_ws_client_receives_the_snapshot_then_each_change(server: Server) -> None:
    customer_id, _ = await create_customer(server.runtime, key="acme", name="Acme")
    await grant_promotional_credits(
        server.runtime,
        actor=OPEN,
        request=GrantRequest(
            customer_id=customer_id, name="Welcome", currency="USD", amount=Decimal(10)
        ),
    )
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(CLIENT),
        server.url,
        customer_id,
        "3",
        str(int(TIMEOUT * 1000)),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        # The snapshot is read after the server subscribed to changes: once it is here,
        # every later commit must reach this client.
        first = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
    except BaseException:
        process.kill()
        await finish(process)
        raise
    if not first:
        rest, err = await finish(process)
        pytest.fail(f"the Node client exited ({process.returncode}) before any event:\n{err}")

    for key in ("use-1", "use-2"):
        await consume_credits(
            server.runtime,
            actor=OPEN,
            request=ConsumeRequest(
                customer_id=customer_id, key=key, currency="USD", amount=Decimal(1)
            ),
        )
    rest, err = await finish(process)
    assert process.returncode == 0, f"the Node client failed ({process.returncode}):\n{err}"

    lines = [first.decode(), *rest.splitlines()]
    events = [balance(line) for line in lines if line.strip()]
    assert [(e["currency"], e["available"]) for e in events] == [
        ("USD", "10.00"),
        ("USD", "9.00"),
        ("USD", "8.00"),
    ]
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(set(sequences)), sequences

    # The client completed and closed: the server let go of its subscription.
    for _ in range(250):  # 5 s
        if not server.broker.subscriber_count():
            break
        await asyncio.sleep(0.02)
    assert server.broker.subscriber_count() == 0
