"""Each comparison of the benchmark, in interleaved rounds against running servers.

Every function takes the servers' base URLs and returns `Stats` per target name, so the
report (and the smoke test) reads them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.storage.seed import Shape, seed_id
from benchmark.load import Stats, Target, compare

DASHBOARD = """
{ customers(first: 50) { edges { node {
    creditBalances { currency available }
    creditGrants(first: 20) { edges { node {
      remaining
      ledgerEntries(first: 10) { edges { node { amount grant { id } } } }
    } } }
} } } }
"""
CONSUME = """
mutation Consume($input: ConsumeCreditsInput!) {
  consumeCredits(input: $input) {
    __typename ... on ConsumeCreditsSuccess { consumption { id } balance { available } }
  }
}"""
BALANCE = """
query Balance($key: String!, $at: DateTime) {
  customer(key: $key) { creditBalance(currency: "USD", at: $at) { available } }
}"""
REVENUE = """
query Revenue($from: DateTime!, $to: DateTime!) {
  creditRevenue(currency: "USD", from: $from, to: $to, interval: MONTH) {
    periods { from recognized breakage deferredAtEnd }
  }
}"""
Results = dict[str, dict[str, Stats]]  # measurement -> target -> stats


@dataclass(frozen=True)
class Timing:
    seconds: float  # per target and measurement, over all rounds
    rounds: int


def query(text: str, variables: dict[str, Any] | None = None) -> Target:
    body = {"query": text, "variables": variables or {}}
    return lambda n: ("/graphql", body)


async def dashboard(
    server: str, floor: str, timing: Timing, concurrency: tuple[int, ...] = (1, 16)
) -> Results:
    """The dashboard query and its floor at 1 and 16 clients; the naive chain (seconds a
    request) at 1 only."""
    targets = {
        "graphql": (server, query(DASHBOARD)),
        "floor": (floor, lambda n: ("/dashboard", {})),
    }
    naive: dict[str, tuple[str, Target]] = {"naive": (floor, lambda n: ("/dashboard/naive", {}))}
    return {
        f"dashboard x{clients}": await compare(
            targets | naive if clients == 1 else targets, clients, timing.seconds, timing.rounds
        )
        for clients in concurrency
    }


def consumer(kind: str, label: str, customers: list[str]) -> Target:
    """One smallest unit of USD per request, customers taken in turn, keys never reused."""

    def target(n: int) -> tuple[str, dict[str, Any]]:
        customer_id, key = customers[n % len(customers)], f"{label}-{n}"
        if kind == "floor":
            body = {"customerId": customer_id, "key": key, "currency": "USD", "units": 1}
            return "/consume", body
        given = {"customerId": customer_id, "key": key, "currency": "USD", "amount": "0.01"}
        return "/graphql", {"query": CONSUME, "variables": {"input": given}}

    return target


async def consumption(
    server: str,
    floor: str,
    shape: Shape,
    timing: Timing,
    concurrency: tuple[int, ...] = (1, 16, 64),
) -> Results:
    """consumeCredits against its floor at 1, 16 and 64 clients, spread and on one hot
    customer; the two write to different customers of the same shape."""
    half = shape.customers // 2
    ids = [seed_id("customer", n) for n in range(shape.customers)]
    results: Results = {}
    for spread in ("spread", "hot"):
        ours, theirs = (ids[:half], ids[half:]) if spread == "spread" else ([ids[0]], [ids[half]])
        for clients in concurrency:
            label = f"consume {spread} x{clients}"
            targets = {
                "graphql": (server, consumer("graphql", label, ours)),
                "floor": (floor, consumer("floor", label, theirs)),
            }
            results[label] = await compare(targets, clients, timing.seconds, timing.rounds)
    return results


async def chain(server: str, unchained: str, shape: Shape, timing: Timing) -> Results:
    """consumeCredits at 16 clients, spread, against the same server without the hash
    chain's work (benchmark.unchained), on the two halves of the customers. The budget is
    5%, so this one gets twice the time, in twice the rounds."""
    half = shape.customers // 2
    ids = [seed_id("customer", n) for n in range(shape.customers)]
    label = "chain x16"
    targets = {
        "chained": (server, consumer("graphql", label, ids[:half])),
        "unchained": (unchained, consumer("graphql", label, ids[half:])),
    }
    return {label: await compare(targets, 16, 2 * timing.seconds, 2 * timing.rounds)}


def revenue_year(shape: Shape) -> tuple[datetime, datetime]:
    """Twelve calendar months ending with the one every seeded entry is booked in (each
    ledger, the long one too, spans days from `shape.start`)."""
    month = shape.start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ends = (month + timedelta(days=32)).replace(day=1)
    return ends.replace(year=ends.year - 1), ends


async def revenue(server: str, shape: Shape, timing: Timing) -> Results:
    """creditRevenue over a year, by month, of the whole seeded ledger."""
    starts, ends = (instant.isoformat().replace("+00:00", "Z") for instant in revenue_year(shape))
    year = {"revenue": (server, query(REVENUE, {"from": starts, "to": ends}))}
    return {"revenue x1": await compare(year, 1, timing.seconds, timing.rounds)}


def past_instant(shape: Shape) -> str:
    """Halfway through the long ledger's history (after every medium ledger entry)."""
    at = shape.start + timedelta(minutes=shape.customers, seconds=shape.big_entries // 2)
    return at.isoformat().replace("+00:00", "Z")


async def balances(server: str, shape: Shape, timing: Timing) -> Results:
    """creditBalance of the medium and the long ledger, now and as of a past instant."""
    medium, big = f"customer-{shape.customers + 1}", f"customer-{shape.customers}"
    at = past_instant(shape)
    targets = {
        "medium now": (server, query(BALANCE, {"key": medium})),
        "big now": (server, query(BALANCE, {"key": big})),
        "medium at": (server, query(BALANCE, {"key": medium, "at": at})),
        "big at": (server, query(BALANCE, {"key": big, "at": at})),
    }
    return {"balance x1": await compare(targets, 1, timing.seconds, timing.rounds)}


async def same_dashboard(server: str, floor: str, naive: bool = True) -> bool:
    """Whether the floor (and the naive chain, unless told not to) answer exactly what the
    server does."""
    paths = ["/dashboard", *(["/dashboard/naive"] if naive else [])]
    async with httpx.AsyncClient(timeout=60) as client:
        ours = (await client.post(f"{server}/graphql", json={"query": DASHBOARD})).json()
        plain = [(await client.post(f"{floor}{path}", json={})).json() for path in paths]
    return all(answer == ours for answer in plain)
