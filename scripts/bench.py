"""Benchmarks: the dashboard query (and a consumption) against a seeded SQLite database.

Usage: scripts/bench [--customers 50] [--grants 20] [--draws 60] [--seconds 10]

Seeds through the real services, then runs the DESIGN §11 dashboard query (50 customers,
their balances, 20 grants each, 10 entries each with their grant) through the ASGI app
in-process, sequentially, and reports throughput and latency percentiles. Results go to
stdout and to bench-report.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

from app.domain.ledger import OPEN
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
            small = {"query": BALANCE}
            lines.append(
                summary("one balance (in-process ASGI)", await measure(client, small, args.seconds))
            )
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--grants", type=int, default=20)
    parser.add_argument("--draws", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    report = asyncio.run(main(parser.parse_args()))
    text = "\n".join(report) + "\n"
    print(text, end="")
    Path("bench-report.txt").write_text(text)
