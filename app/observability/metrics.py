"""The Prometheus metrics of a server process, or of every worker of `serve --workers N`.

One process: each app has its own registry (the process's CPU, memory and GC included).
Several workers share one port, so a scrape reaches any one of them: with
PROMETHEUS_MULTIPROC_DIR set (prometheus_client's multiprocess mode; `credits serve
--workers N` sets it), every worker writes its figures to files there and /metrics adds
them up: counters and histograms over every worker that ran, the gauges of open
connections over the live ones.

Per request the cost is two increments and one observation. Gauges of open things are
read when sampled (at each scrape, and every second in multiprocess mode), not kept
up to date by every request.
"""

from __future__ import annotations

import atexit
import glob
import math
import os
import re
import shutil
import tempfile
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.events import Committed
from app.domain.ledger import EntryType
from app.storage.engine import read_connection
from app.storage.tables import grants, schedules

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Operation names come from clients: past this many distinct ones a process counts the
# rest as "other", so a client cannot grow the metrics without bound.
MAX_OPERATIONS = 100
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
LABELS = ("operation", "outcome")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR) or None


def prepare_workers() -> str:
    """For `serve --workers N`, before the workers start: the directory they share their
    figures through (PROMETHEUS_MULTIPROC_DIR, made afresh unless already set)."""
    path = multiprocess_dir()
    if path is None:
        path = tempfile.mkdtemp(prefix="credits-metrics-")
        os.environ[MULTIPROCESS_DIR] = path
        atexit.register(shutil.rmtree, path, True)
    else:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):  # an earlier run's would add up
            os.remove(stale)
    return path


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series beside every counter (process-wide)
        self.multiprocess = multiprocess_dir() is not None
        registry = self.registry = CollectorRegistry()
        if not self.multiprocess:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.requests = Counter(
            "credits_requests",
            "HTTP requests by GraphQL operation name (or route) and outcome",
            LABELS,
            registry=registry,
        )
        self.latency = Histogram(
            "credits_request_duration_seconds",
            "Time to answer an HTTP request, by GraphQL operation name (or route) and outcome",
            LABELS,
            buckets=BUCKETS,
            registry=registry,
        )
        entries = Counter(
            "credits_ledger_entries",
            "Ledger entries committed by this server, by type",
            ("type",),
            registry=registry,
        )
        self.entries = {kind: entries.labels(kind.value) for kind in EntryType}
        self.websockets = self._gauge("credits_websockets_open", "Open WebSockets")
        self.subscriptions = self._gauge("credits_subscriptions_open", "Open subscriptions")
        self.pool_in_use = self._gauge(
            "credits_db_pool_in_use", "Pooled database connections checked out"
        )
        self.pool_waiting = self._gauge(
            "credits_db_pool_waiting", "Tasks waiting for a pooled database connection"
        )
        self.scheduler_lag = Gauge(
            "credits_scheduler_lag_seconds",
            "How long the most overdue funding or expiry has been due (0: nothing overdue)",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        # For the webhook delivery worker (issue 11) when it comes: attempts by outcome,
        # and, once it calls watch_webhook_backlog, the age of its oldest undelivered event.
        self.webhook_deliveries = Counter(
            "credits_webhook_deliveries",
            "Webhook delivery attempts by outcome",
            ("outcome",),
            registry=registry,
        )
        self.samplers: list[Callable[[], Awaitable[None]]] = []
        self.children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.operations: set[str] = set()
        self.open_websockets = 0

    def _gauge(self, name: str, documentation: str) -> Gauge:
        return Gauge(name, documentation, registry=self.registry, multiprocess_mode="livesum")

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        key = (operation, outcome)
        children = self.children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(*key))
            self.children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def operation_label(self, name: str | None) -> str:
        """`unknown` when GraphQL did not run, `anonymous` for an unnamed operation."""
        if name is None:
            return "unknown"
        if not name:
            return "anonymous"
        if name not in self.operations:
            if len(self.operations) >= MAX_OPERATIONS or not NAME.fullmatch(name):
                return "other"
            self.operations.add(name)
        return name

    def count_entries(self, committed: Committed) -> None:
        for kind, count in Tally(entry.type for entry in committed.entries).items():
            self.entries[kind].inc(count)

    def sample(self, engine: AsyncEngine, subscriptions: int) -> None:
        """The gauges of what is open in this process, now."""
        self.websockets.set(self.open_websockets)
        self.subscriptions.set(subscriptions)
        pool: Any = engine.pool
        checked_out = getattr(pool, "checkedout", None)
        self.pool_in_use.set(checked_out() if checked_out else math.nan)
        self.pool_waiting.set(waiting(pool))

    async def sample_at_scrape(self, engine: AsyncEngine, now: datetime) -> None:
        """What the database (or a registered sampler) answers: read at each scrape only."""
        self.scheduler_lag.set(await overdue_seconds(engine, now))
        for sampler in self.samplers:
            await sampler()

    def watch_webhook_backlog(self, oldest: Callable[[], Awaitable[float]]) -> None:
        """`oldest()` answers the age in seconds of the oldest event not yet delivered (0
        when none); it is asked at each scrape, like the scheduler's lag."""
        gauge = Gauge(
            "credits_webhook_oldest_undelivered_seconds",
            "Age of the oldest webhook event not yet delivered (0: none)",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

        async def sample() -> None:
            gauge.set(await oldest())

        self.samplers.append(sample)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def process_ended(self) -> None:
        """A worker that stops takes its open-connection gauges with it."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def waiting(pool: Any) -> float:
    """Tasks waiting on the pool's asyncio queue (SQLAlchemy's AsyncAdaptedQueuePool keeps
    one; it exists once a checkout had to wait). NaN for a pool without one."""
    queue_holder = getattr(pool, "_pool", None)
    if queue_holder is None:
        return math.nan
    queue = vars(queue_holder).get("_queue")  # made on first wait; never made here
    getters = getattr(queue, "_getters", ())
    return float(sum(not getter.done() for getter in getters))


async def overdue_seconds(engine: AsyncEngine, now: datetime) -> float:
    """Seconds since the earliest funding, expiry or schedule occurrence that is due and
    not yet booked: the scheduler's lag, whichever process runs it (a seek on each index
    of due instants)."""
    firsts = union_all(
        *(
            select(func.min(t.c.next_event_at).label("at")).where(t.c.next_event_at <= now)
            for t in (grants, schedules)
        )
    ).subquery()
    statement = select(func.min(firsts.c.at))
    async with read_connection(engine) as connection:
        due: datetime | None = (await connection.execute(statement)).scalar()
    return 0.0 if due is None else max(0.0, (now - due).total_seconds())
