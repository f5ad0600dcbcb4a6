"""Closed-loop load: `clients` concurrent clients, each sending its next request when the
last one answered, for a fixed time; targets compared take turns in short rounds, so a
slow spell of the shared machine falls on each of them alike."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Request = tuple[str, dict[str, Any]]  # path, JSON body
Target = Callable[[int], Request]  # the n-th request of a measurement
TIMEOUT = 60.0  # seconds a client waits: longer than any execution limit


@dataclass
class Stats:
    """What one target did over all its rounds."""

    latencies: list[float] = field(default_factory=list)  # seconds, answered requests
    failures: int = 0  # not HTTP 200, or a body with errors
    elapsed: float = 0.0  # seconds of wall time over its rounds

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, fraction: float) -> float:
        """In milliseconds (nan if nothing answered)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000

    def over(self, seconds: float) -> int:
        return sum(1 for latency in self.latencies if latency > seconds) + self.failures


def answered(body: str) -> bool:
    """No GraphQL errors, and no error member of a result union (`…Error` typename)."""
    return '"errors"' not in body and 'Error"' not in body


async def run_round(
    client: httpx.AsyncClient, target: Target, clients: int, seconds: float, counter: Any
) -> Stats:
    stats = Stats()
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            path, body = target(next(counter))
            started = time.perf_counter()
            try:
                response = await client.post(path, json=body)
                ok = response.status_code == 200 and answered(response.text)
            except httpx.HTTPError:
                ok = False
            if ok:
                stats.latencies.append(time.perf_counter() - started)
            else:
                stats.failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    stats.elapsed = time.perf_counter() - started
    return stats


async def compare(
    targets: dict[str, tuple[str, Target]], clients: int, seconds: float, rounds: int
) -> dict[str, Stats]:
    """Each target (name: base URL, requests) in `rounds` turns of seconds/rounds each."""
    totals = {name: Stats() for name in targets}
    counters = {name: itertools.count() for name in targets}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with contextlib.AsyncExitStack() as stack:
        http = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(base_url=base, limits=limits, timeout=TIMEOUT)
            )
            for name, (base, _) in targets.items()
        }
        for _ in range(rounds):
            for name, (_, target) in targets.items():
                got = await run_round(http[name], target, clients, seconds / rounds, counters[name])
                merge(totals[name], got)
    return totals


def merge(total: Stats, part: Stats) -> None:
    total.latencies.extend(part.latencies)
    total.failures += part.failures
    total.elapsed += part.elapsed
