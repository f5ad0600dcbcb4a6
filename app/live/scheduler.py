"""The scheduler inside `serve`: books due funding and expiry about once a second.

Every process runs one. Each customer's due events are booked inside that customer's
write transaction, after its row is locked (`SELECT … FOR UPDATE` on PostgreSQL, an
IMMEDIATE transaction on SQLite), and read again under the lock: whichever scheduler (or
request) comes second finds nothing due, so each event is booked exactly once
(tests/scale: two runtimes, and two server processes, racing on one database).
"""

from __future__ import annotations

import asyncio
import logging

from app.services.runtime import Runtime
from app.services.scheduling import book_due_events

log = logging.getLogger("credits.scheduler")


async def run_scheduler(runtime: Runtime, interval: float) -> None:
    """Runs until cancelled; a failing tick is logged and retried on the next one."""
    while True:
        try:
            await book_due_events(runtime)
        except Exception:
            log.exception("booking due events failed; retrying at the next tick")
        await asyncio.sleep(interval)
