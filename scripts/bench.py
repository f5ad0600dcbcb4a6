"""Benchmarks: the dashboard query (and a consumption) against a seeded SQLite database.

Usage: scripts/bench [--customers 50] [--grants 20] [--draws 60] [--seconds 10]
       scripts/bench live [--subscribers 1000] [--mutations 50]
       scripts/bench all

Seeds through the real services, then runs the DESIGN §11 dashboard query (50 customers,
their balances, 20 grants each, 10 entries each with their grant) through the ASGI app
in-process, sequentially, and reports throughput and latency percentiles. Results go to
stdout and to bench-report.txt.

`live`: 1,000 subscribers of creditLedgerEntryBooked on one customer, over real
WebSockets (graphql-transport-ws) to uvicorn on 127.0.0.1 (port 0) in this process; the
subscribers run in a second process with its own event loop. Then mutations, one after
another (each waits until every subscriber has its entry); for each, the time from its
commit (the consumption's return) to its receipt by each subscriber, on the system-wide
monotonic clock. Median and p99 go to stdout and are appended to bench-report.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets

from app.domain.ledger import OPEN
from app.live.broker import MemoryBroker
from app.main import create_app
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.engine import create_engine
from app.storage.tables import metadata

DASHBOARD = """
{ customers(first: 50) { edges { node {
    creditBalances { currency available }
    creditGrants(first: 20) { edges { node {
      remaining
      ledgerEntries(first: 10) { edges { node { amount grant { id } } } }
    } } }
} } } }
"""
BALANCE = '{ customer(key: "bench-0") { creditBalance(currency: "USD") { available } } }'


async def seed(runtime: Runtime, customers: int, grants: int, draws: int) -> None:
    for c in range(customers):
        customer_id, _ = await create_customer(runtime, key=f"bench-{c}", name=f"Customer {c}")
        for g in range(grants):
            request = GrantRequest(
                customer_id=customer_id, name=f"grant {g}", currency="USD", amount=Decimal(50)
            )
            await grant_promotional_credits(runtime, actor=OPEN, request=request)
        for d in range(draws):
            draw = ConsumeRequest(
                customer_id=customer_id, key=f"d{d}", currency="USD", amount=Decimal("7.5")
            )
            await consume_credits(runtime, actor=OPEN, request=draw)


async def measure(
    client: httpx.AsyncClient, body: dict[str, object], seconds: float
) -> list[float]:
    timings: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        response = await client.post("/graphql", json=body)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    return timings


def summary(name: str, timings: list[float]) -> str:
    ms = sorted(t * 1000 for t in timings)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{name}: {len(ms)} requests, {len(ms) / sum(timings):.1f} req/s, "
        f"median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms"
    )


async def main(args: argparse.Namespace) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="credits-bench-"))
    url = f"sqlite:///{folder}/bench.db"
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()
    app = create_app(Settings(database_url=url, scheduler_enabled=False))
    lines = []
    async with app.router.lifespan_context(app):
        started = time.perf_counter()
        await seed(app.state.runtime, args.customers, args.grants, args.draws)
        lines.append(
            f"seeded {args.customers} customers x {args.grants} grants, {args.draws} draws each "
            f"in {time.perf_counter() - started:.1f} s"
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await measure(client, {"query": DASHBOARD}, 1)  # warm caches
            timings = await measure(client, {"query": DASHBOARD}, args.seconds)
            lines.append(summary("dashboard query (in-process ASGI)", timings))
            small: dict[str, object] = {"query": BALANCE}
            lines.append(
                summary("one balance (in-process ASGI)", await measure(client, small, args.seconds))
            )
    return lines


# ---------------------------------------------------------------- live updates

LIVE_SUBSCRIPTION = """
subscription Entries($customerId: ID!, $after: Int!) {
  creditLedgerEntryBooked(customerId: $customerId, currency: "USD", afterSequence: $after) {
    id sequence type amount availableBalanceAfter bookedAt
  }
}"""
WARMUP = 3  # mutations before the measured ones: caches, first sends


def raise_open_files(wanted: int) -> int:
    """Raise the soft limit on open files (1,000 sockets each side) up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def subscribers_process(
    url: str, customer_id: str, after: int, count: int, last: int, pipe: Connection
) -> None:
    """The subscribers' side, in a process of its own."""
    asyncio.run(run_subscribers(url, customer_id, after, count, last, pipe))


async def run_subscribers(
    url: str, customer_id: str, after: int, count: int, last: int, pipe: Connection
) -> None:
    received: dict[int, list[float]] = defaultdict(list)
    subscribe = {
        "id": "1",
        "type": "subscribe",
        "payload": {
            "query": LIVE_SUBSCRIPTION,
            "variables": {"customerId": customer_id, "after": after},
        },
    }

    async def connect() -> Any:
        socket = await websockets.connect(
            url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], ping_interval=None
        )
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await socket.recv())
        assert ack["type"] == "connection_ack", ack
        await socket.send(json.dumps(subscribe))
        return socket

    async def read(socket: Any) -> None:
        async for message in socket:
            at = time.monotonic()
            body = json.loads(message)
            if body["type"] != "next" or "errors" in body["payload"]:
                raise RuntimeError(f"unexpected message: {message}")
            sequence = body["payload"]["data"]["creditLedgerEntryBooked"]["sequence"]
            times = received[sequence]
            times.append(at)
            if len(times) == count:
                pipe.send(("delivered", sequence))
            if sequence == last:
                return

    sockets = []
    for start in range(0, count, 100):  # 100 handshakes at a time
        batch = range(start, min(count, start + 100))
        sockets.extend(await asyncio.gather(*(connect() for _ in batch)))
    pipe.send(("connected", len(sockets)))
    await asyncio.gather(*(read(socket) for socket in sockets))
    pipe.send(("received", dict(received)))
    await asyncio.gather(*(socket.close() for socket in sockets))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def live_main(args: argparse.Namespace) -> list[str]:
    limit = raise_open_files(2 * args.subscribers + 512)
    folder = Path(tempfile.mkdtemp(prefix="credits-bench-live-"))
    url = f"sqlite:///{folder}/bench.db"
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()
    app = create_app(Settings(database_url=url, scheduler_enabled=False))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_config=None, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    runtime: Runtime = app.state.runtime
    total = WARMUP + args.mutations
    customer_id, _ = await create_customer(runtime, key="bench-live", name="Bench live")
    grant = GrantRequest(
        customer_id=customer_id, name="live", currency="USD", amount=Decimal(total)
    )
    await grant_promotional_credits(runtime, actor=OPEN, request=grant)  # sequence 1

    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=subscribers_process,
        args=(f"ws://{host}:{port}/graphql", customer_id, 1, args.subscribers, 1 + total, theirs),
        daemon=True,
    )

    async def message(kind: str, within: float) -> Any:
        got, value = await asyncio.wait_for(loop.run_in_executor(None, ours.recv), within)
        assert got == kind, (got, value)
        return value

    started = time.monotonic()
    process.start()
    theirs.close()  # the child's end: our reads end (EOFError) if the child dies
    broker = runtime.publisher
    assert isinstance(broker, MemoryBroker)
    try:
        await message("connected", 90)
        while broker.subscriber_count() < args.subscribers:
            assert time.monotonic() - started < 120, "subscriptions did not start"
            await asyncio.sleep(0.01)
        connecting = time.monotonic() - started
        committed: dict[int, float] = {}
        for n in range(total):
            request = ConsumeRequest(
                customer_id=customer_id, key=f"live-{n}", currency="USD", amount=Decimal(1)
            )
            await consume_credits(runtime, actor=OPEN, request=request)
            committed[n + 2] = time.monotonic()
            assert await message("delivered", 30) == n + 2
        received: dict[int, list[float]] = await message("received", 30)
        await asyncio.to_thread(process.join, 30)
    finally:
        if process.is_alive():
            process.kill()
        server.should_exit = True
        await serving

    measured = range(2 + WARMUP, 2 + total)
    assert all(len(received[s]) == args.subscribers for s in committed), "lost or repeated"
    latencies = [(t - committed[s]) * 1000 for s in measured for t in received[s]]
    last = [(max(received[s]) - committed[s]) * 1000 for s in measured]
    return [
        f"live updates: {args.subscribers} subscribers of creditLedgerEntryBooked on one "
        f"customer (graphql-transport-ws, uvicorn on 127.0.0.1, subscribers in another "
        f"process; open files limit {limit}), connected in {connecting:.1f} s",
        f"live updates: {args.mutations} mutations one after another ({WARMUP} warm-up "
        f"before), commit to receipt over {len(latencies)} deliveries: "
        f"median {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms",
        f"live updates: commit to receipt by the last subscriber: "
        f"median {statistics.median(last):.2f} ms, p99 {percentile(last, 0.99):.2f} ms",
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "benchmark",
        nargs="?",
        choices=("dashboard", "live", "all"),
        default="dashboard",
        help="which benchmark to run (default: dashboard)",
    )
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--grants", type=int, default=20)
    parser.add_argument("--draws", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--mutations", type=int, default=50)
    arguments = parser.parse_args()
    if arguments.benchmark in ("dashboard", "all"):
        report = asyncio.run(main(arguments))
        text = "\n".join(report) + "\n"
        print(text, end="")
        Path("bench-report.txt").write_text(text)
    if arguments.benchmark in ("live", "all"):
        report = asyncio.run(live_main(arguments))
        text = "\n".join(report) + "\n"
        print(text, end="")
        with Path("bench-report.txt").open("a") as file:
            file.write(text)
