"""The webhook delivery worker inside `serve` (and alone in `credits deliver`).

Every process runs one; rows locked and leased at claim time make each attempt one
process's (app/services/webhooks/delivery.py). It delivers until nothing is due, then
waits for this process to commit a change that queued deliveries, or at most `interval`
seconds (for other processes' changes and for retries), rereading the endpoints then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from app.domain.webhooks import TIMEOUT
from app.services.runtime import Runtime
from app.services.webhooks.delivery import Outcome, deliver_due

log = logging.getLogger("credits.webhooks")


async def run_deliveries(
    runtime: Runtime,
    *,
    interval: float = 1.0,
    allow_loopback: bool = False,
    outcome: Outcome | None = None,
    once: bool = False,
) -> None:
    """Runs until cancelled (or, with `once`, until nothing is due)."""
    outbox = runtime.outbox
    # Idle connections are dropped before the 5 s after which servers commonly close
    # theirs (uvicorn's default), so a POST rarely meets a connection being closed.
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(follow_redirects=False, timeout=TIMEOUT, limits=limits) as client:
        while True:
            outbox.staged.clear()
            try:
                await outbox.refresh()
                while await deliver_due(
                    runtime, client, allow_loopback=allow_loopback, outcome=outcome
                ):
                    pass
            except Exception:
                log.exception("delivering webhooks failed; retrying")
            if once:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.staged.wait(), interval)
