"""The benchmark of issue 8: the server beside its floor, judged against the issue's budgets.

Usage: scripts/bench [--quick] [--shape full|quick|tiny] [--engines sqlite,postgresql]
                     [--only dashboard,consume,balance,chain,revenue,live]
                     [--seconds S] [--rounds N] [--subscribers N] [--mutations N]
                     [--output docs/performance.md]

For each engine (SQLite always; PostgreSQL when CREDITS_TEST_POSTGRES_URL is set, in
scratch databases beside the one it names): a seeded database of the shape (cached in
.bench-cache/ or credits_bench_<key> databases; each run works in a copy), `credits
serve`, the floor app and `credits serve` without the hash chain's work started together
as processes on loopback ports (only those the parts need), then in interleaved rounds:
the dashboard query and its floor at 1 and 16 clients, a naive resolver chain at 1;
consumeCredits against its floor at 1, 16 and 64 clients, spread and on one hot
customer; consumeCredits with and without the hash chain at 16 (issue 9); creditBalance
of a 1,000-entry and the long ledger, now and as of a past instant; creditRevenue over a
year by month; then the live fan-out. Prints a table per engine and writes
docs/performance.md. Full shape: 10,000 customers, 100,000 grants, 1,000,000 entries in
USD and EUR, and one customer with 1,000,000 entries of their own. `--quick`: a smaller
shape, each figure over half a second in one round.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from benchmark import live, measure, thresholds
from benchmark.data import SHAPES, prepare
from benchmark.load import compare
from benchmark.measure import Results, Timing
from benchmark.report import Row, document, machine, rows, table
from benchmark.servers import serving
from sqlalchemy import text

from app.storage.engine import create_engine
from app.storage.seed import Shape

PARTS = ("dashboard", "consume", "balance", "chain", "revenue", "thresholds", "live")


async def ready(base_url: str, shape: Shape) -> tuple[str, list[str]]:
    started = time.perf_counter()
    url, notes = await prepare(base_url, shape)
    return url, [*notes, f"database ready in {time.perf_counter() - started:.0f} s"]


async def run_engine(
    url: str, notes: list[str], shape: Shape, args: argparse.Namespace
) -> tuple[list[Row], list[str]]:
    begun = time.perf_counter()
    results = await requests(url, shape, args, notes) if args.only - {"live"} else {}
    served = time.perf_counter()
    if "live" in args.only:
        results |= await live.fan_out(url, args.subscribers, args.mutations)
    notes.append(
        f"requests measured in {served - begun:.0f} s (servers' start included), live in "
        f"{time.perf_counter() - served:.0f} s"
    )
    return rows(results) + thresholds.rows(results), notes


async def requests(url: str, shape: Shape, args: argparse.Namespace, notes: list[str]) -> Results:
    """Every part but live, against the servers it needs, started together."""
    kinds = ["credits"]
    kinds += ["floor"] if args.only & {"dashboard", "consume"} else []
    kinds += ["unchained"] if "chain" in args.only else []
    timing = Timing(args.seconds, args.rounds)
    results: Results = {}
    async with serving(url, *kinds) as up:
        server = up["credits"]
        if "floor" in up and not await measure.same_dashboard(server, up["floor"], not args.quick):
            notes.append("THE FLOOR'S DASHBOARD DIFFERS FROM THE SERVER'S")
        warm = measure.query(measure.DASHBOARD)
        await compare({"graphql": (server, warm)}, 1, timing.seconds, 1)
        if "dashboard" in args.only:
            results |= await measure.dashboard(server, up["floor"], timing)
        if "consume" in args.only:
            results |= await measure.consumption(server, up["floor"], shape, timing)
        if "chain" in args.only:
            results |= await measure.chain(server, up["unchained"], shape, timing)
        if "balance" in args.only:
            results |= await measure.balances(server, shape, timing)
        if "revenue" in args.only:
            results |= await measure.revenue(server, shape, timing)
        if "thresholds" in args.only:
            results |= await thresholds.measure(server, shape, timing)
    return results


async def server_version(base_url: str) -> str:
    engine = create_engine(base_url)
    try:
        async with engine.connect() as connection:
            return str(await connection.scalar(text("SHOW server_version")))
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> str:
    shape = SHAPES[args.shape]
    engines = {"SQLite": "sqlite://"}
    postgres = os.environ.get("CREDITS_TEST_POSTGRES_URL")
    if postgres:
        engines["PostgreSQL"] = postgres
    engines = {name: url for name, url in engines.items() if name.lower() in args.engines}
    versions = (
        {"PostgreSQL": await server_version(postgres)}
        if "PostgreSQL" in engines and postgres
        else {}
    )
    # every engine's database at once (a cold cache seeds each in a process of its own)
    prepared = await asyncio.gather(*(ready(url, shape) for url in engines.values()))
    sections = []
    for name, (url, notes) in zip(engines, prepared, strict=True):
        found, notes = await run_engine(url, notes, shape, args)
        print(f"\n{name} ({'; '.join(notes)})\n{table(found)}", flush=True)
        sections.append((name, found, [f"Run: {'; '.join(notes)}."]))
    described = (
        f"- Shape `{args.shape}`: {shape.customers:,} customers x {shape.grants} grants x "
        f"{shape.entries} entries in {' and '.join(shape.currencies)}, one customer with "
        f"{shape.big_entries:,} entries and one with {shape.medium_entries:,}"
    )
    timed = (
        f"- Each figure over {args.seconds:g} s in {args.rounds} rounds; live: "
        f"{args.subscribers:,} subscribers, {args.mutations} consumptions"
    )
    command = f"- Command: `{' '.join(['scripts/bench', *sys.argv[1:]])}`"
    context = [*machine(versions), command, described, timed]
    return document(sections, context)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smaller shape and shorter rounds (under 2 minutes)"
    )
    parser.add_argument("--shape", choices=sorted(SHAPES))
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default=set(PARTS),
        help="the parts to measure, of " + ",".join(PARTS) + " (default: all)",
    )
    parser.add_argument("--seconds", type=float, help="per figure, over all rounds")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--mutations", type=int)
    parser.add_argument("--output", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    # quick: every row, each figure over half a second in one round (no naive chain in the
    # floor's answer check: its one request takes seconds)
    quick = {"shape": "quick", "seconds": 0.5, "rounds": 1, "mutations": 5}
    full = {"shape": "full", "seconds": 10.0, "rounds": 5, "mutations": 50}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


if __name__ == "__main__":
    # The live bench runs the app in this process; its log setup would otherwise print
    # every request of the bench's own HTTP client.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    arguments = parse()
    report = asyncio.run(main(arguments))
    arguments.output.write_text(report)
    print(f"\nwritten to {arguments.output}")
