"""What threshold checks cost consumeCredits (docs/thresholds.md): consumptions of customers
with two thresholds each (one on the whole balance, one on a feature's) against the same
consumptions of customers without any, on one server in interleaved rounds. The
thresholds sit far below the balances, so every consumption checks them and none fires:
the cost measured is the check itself. Budget: at most 5% fewer requests per second."""

from __future__ import annotations

import httpx

from app.storage.seed import Shape, seed_id
from benchmark.load import compare
from benchmark.measure import Results, Timing, consumer
from benchmark.report import Row, failed, judged

NAME = "thresholds x16"
WHAT = "threshold checks on consumeCredits throughput (≤5% vs the same run without thresholds)"
WATCH = """
mutation Watch($input: CreateCreditThresholdInput!) {
  createCreditThreshold(input: $input) { __typename }
}"""


async def measure(server: str, shape: Shape, timing: Timing, clients: int = 16) -> Results:
    """Customers of the floor's half (the server's own measurements never write them)."""
    half, size = shape.customers // 2, max(1, min(200, shape.customers // 4))
    ids = [seed_id("customer", n) for n in range(half, half + 2 * size)]
    watched, plain = ids[:size], ids[size:]
    await _watch(server, watched)
    sides = {"with": watched, "without": plain}
    # unmeasured, keys of their own: the server's first consumptions (its pool's
    # connections, compiled statements) would otherwise all fall in the first side's round
    warm = {
        name: (server, consumer("graphql", f"warm-{name}", group)) for name, group in sides.items()
    }
    await compare(warm, clients, timing.seconds / timing.rounds, 1)
    targets = {
        name: (server, consumer("graphql", f"thresholds-{name}", group))
        for name, group in sides.items()
    }
    # a 5% budget, like the hash chain's row: twice the time, in twice the rounds
    return {NAME: await compare(targets, clients, 2 * timing.seconds, 2 * timing.rounds)}


async def _watch(server: str, customer_ids: list[str]) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        for customer_id in customer_ids:
            for feature in (None, "api"):
                given: dict[str, str | None] = {"customerId": customer_id, "name": "bench"}
                given |= {"currency": "USD", "below": "0.01", "featureKey": feature}
                body = {"query": WATCH, "variables": {"input": given}}
                answer = (await client.post("/graphql", json=body)).json()
                found = answer["data"]["createCreditThreshold"]["__typename"]
                assert found == "CreditThresholdSuccess", answer


def rows(results: Results) -> list[Row]:
    if NAME not in results:
        return []
    ours, plain = results[NAME]["with"], results[NAME]["without"]
    row = judged(WHAT, ours.per_second, plain.per_second, "req/s", 0.95, False)
    return [failed(row, ours, plain)]
