"""The PostgreSQL broker: changes reach the subscribers of every process through LISTEN/NOTIFY.

`stage` runs `pg_notify` inside the write transaction, so a notification goes out only if
and when that transaction commits, and PostgreSQL hands it to every listening process
(this one included) in commit order. Local subscribers hear only what comes through the
listener: a process sees its own changes and everyone else's in one order, the database's.
A payload carries ids and sequences, never documents (PostgreSQL's limit is 8,000 bytes);
subscribers read the rest from the database by sequence. A change this process committed
names its origin (this broker and a number), and the listener delivers the change itself,
entries included, when its notification arrives, still in the database's order: its
subscribers then need no read and share one mapping, as with the in-memory broker.

One dedicated connection listens (asyncpg, application_name `credits-listener`) and is
checked every few seconds. When it is lost the broker reconnects with backoff, then sends
every open subscription a `Resync`: what changed meanwhile is re-read, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.events import Committed
from app.domain.time import Clock, format_instant
from app.live.broker import DEFAULT_CAPACITY, MemoryBroker, Resync, Subscription

CHANNEL = "credits_changes"
APPLICATION_NAME = "credits-listener"
MAX_PAYLOAD = 7000  # bytes, below PostgreSQL's 8,000
HEARTBEAT = 5.0  # seconds between checks that the listening connection still answers
BACKOFF = (0.1, 5.0)  # seconds: first and longest wait between reconnection attempts
RESYNC_MARGIN = timedelta(seconds=60)  # other hosts' clocks may lag ours
STAGED = 1000  # own changes kept until their notification arrives (a rollback never sends)

log = logging.getLogger("credits.live")


def encode(committed: Committed, origin: str | None = None) -> str:
    """The customer, the last sequence of each changed ledger, the grant ids and the instant
    (and where it was committed, if given); grant ids become null ("re-read them") and then
    sequences too rather than exceed the limit."""
    body: dict[str, Any] = {
        "c": committed.customer_id,
        "t": None if committed.at is None else format_instant(committed.at),
        "s": committed.sequences,
        "g": sorted(committed.grant_ids),
    }
    if origin is not None:
        body["o"] = origin
    if committed.threshold_sequences:
        body["h"] = committed.threshold_sequences
    for dropped in ("g", "s"):
        text = json.dumps(body, separators=(",", ":"))
        if len(text.encode()) <= MAX_PAYLOAD:
            return text
        body[dropped] = None
    return json.dumps(body, separators=(",", ":"))


def decode(payload: str) -> Committed:
    return from_body(json.loads(payload))


def from_body(body: dict[str, Any]) -> Committed:
    customer_id = str(body["c"])
    at = None if body["t"] is None else datetime.fromisoformat(body["t"])
    if body["s"] is None:
        return Resync(customer_id, at=at)
    sequences = {str(code): int(sequence) for code, sequence in body["s"].items()}
    thresholds = {str(code): int(sequence) for code, sequence in body.get("h", {}).items()}
    if body["g"] is None:
        return Resync(
            customer_id,
            currencies=set(sequences),
            at=at,
            sequences=sequences,
            threshold_sequences=thresholds,
        )
    grant_ids = {str(grant_id) for grant_id in body["g"]}
    return Committed(
        customer_id,
        grant_ids=grant_ids,
        currencies=set(sequences),
        at=at,
        sequences=sequences,
        threshold_sequences=thresholds,
    )


async def notify(
    connection: AsyncConnection, committed: Committed, origin: str | None = None
) -> None:
    """Inside the write transaction: delivered only if and when it commits."""
    await connection.execute(select(func.pg_notify(CHANNEL, encode(committed, origin))))


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresBroker:
    """Notifies inside write transactions; one listener per process feeds local subscribers."""

    def __init__(self, url: str, clock: Clock, capacity: int = DEFAULT_CAPACITY) -> None:
        self.dsn = asyncpg_dsn(url)
        self.clock = clock
        self.local = MemoryBroker(capacity)
        self.listening = asyncio.Event()
        self.healthy_at = clock.now()  # when the listener was last known to hear everything
        self.task: asyncio.Task[None] | None = None
        self.origin = secrets.token_hex(8)  # this broker, in the notifications it sends
        self.numbers = itertools.count()
        self.staged: OrderedDict[str, Committed] = OrderedDict()  # by origin, until heard

    async def stage(self, connection: AsyncConnection, committed: Committed) -> None:
        origin = f"{self.origin}:{next(self.numbers)}"
        self.staged[origin] = committed
        if len(self.staged) > STAGED:
            self.staged.popitem(last=False)  # rolled back long ago: its notification never came
        await notify(connection, committed, origin)

    async def publish(self, committed: Committed) -> None:
        return None  # PostgreSQL delivers it to the listener after the commit

    def subscribe(self, customer_id: str) -> Subscription:
        return self.local.subscribe(customer_id)

    def subscriber_count(self) -> int:
        return self.local.subscriber_count()

    async def start(self, wait: float = 10.0) -> None:
        """Starts listening; waits a while for the first connection, then serves regardless
        (the listener keeps trying, and subscriptions made meanwhile get a Resync)."""
        if self.task is None:
            self.task = asyncio.create_task(self.listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), wait)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def listen(self) -> None:
        """Runs until cancelled: nothing but cancellation stops a process from listening."""
        delay = BACKOFF[0]
        while True:
            try:
                connection = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": APPLICATION_NAME}
                )
                try:
                    await self.hold(connection)
                finally:
                    connection.terminate()
            except Exception as error:  # refused, dropped, timed out: all mean try again
                log.warning("listening connection lost or refused (%r)", error)
            if self.listening.is_set():  # it was listening: try again soon
                self.listening.clear()
                delay = BACKOFF[0]
            log.warning("reconnecting the listening connection in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF[1])

    async def hold(self, connection: Any) -> None:
        """Listens, refills every subscription, then checks the connection until it is lost."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(CHANNEL, self.deliver)
        self.listening.set()
        self.resync_all()
        while not lost.is_set():
            self.healthy_at = self.clock.now()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), HEARTBEAT)
            if not lost.is_set():
                await asyncio.wait_for(connection.fetchval("SELECT 1"), HEARTBEAT)
        log.warning("listening connection lost (closed by the server)")

    def deliver(self, *notification: Any) -> None:
        """asyncpg calls this in arrival order (connection, pid, channel, payload)."""
        try:
            body = json.loads(notification[-1])
            committed = self.staged.pop(str(body.get("o")), None) or from_body(body)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.exception("ignored a malformed notification on %s", CHANNEL)
            return
        self.local.deliver(committed)

    def resync_all(self) -> None:
        since = self.healthy_at - RESYNC_MARGIN
        for customer_id in list(self.local.subscribers):
            self.local.deliver(Resync(customer_id, at=since))
