"""The scheduler inside `serve`: books due funding and expiry about once a second."""

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
