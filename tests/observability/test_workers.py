"""`credits serve --workers 2` on PostgreSQL: a scrape reaches either worker (the kernel
picks) and reads the figures of both, through prometheus_client's multiprocess files."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.observability.support import parse, value
from tests.scale.conftest import scratch_database
from tests.scale.support import free_port, fresh_client, start_server, stop_server, until_listeners

HELLO = "query Hello { viewer { kind } }"
SERIES = ("credits_requests_total", (("operation", "Hello"), ("outcome", "success")))


def hellos_by_worker(directory: Path) -> dict[str, float]:
    """Each worker's own count of Hello requests, from its own file."""
    counts: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        for metric in MultiProcessCollector.merge([str(path)]):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if (sample.name, tuple(sorted(sample.labels.items()))) == SERIES:
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


async def test_a_scrape_of_either_worker_counts_the_requests_of_both(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    async with scratch_database(postgres_url) as url:
        server = await start_server(url, port=free_port(), workers=2)
        try:
            await until_listeners(url, 2)
            sent = 0
            while sent < 200 and len(hellos_by_worker(directory)) < 2:
                for _ in range(10):  # a new connection each: either worker may answer
                    await server.post(HELLO)
                sent += 10
            by_worker = hellos_by_worker(directory)
            scraped = []
            for _ in range(6):  # a new connection each: either worker may be scraped
                async with fresh_client(server) as client:
                    samples = parse((await client.get("/metrics")).text)
                scraped.append(value(samples, "credits_requests_total", **dict(SERIES[1])))
        finally:
            await stop_server(server)

    assert len(by_worker) == 2 and all(count > 0 for count in by_worker.values()), by_worker
    assert sum(by_worker.values()) == sent
    assert scraped == [sent] * 6
