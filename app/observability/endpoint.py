"""`GET /metrics`: the Prometheus text format, and who may read it.

Open while the server listens on loopback only (like OPEN mode and GraphiQL: whoever can
reach it is on the machine). Elsewhere it needs `Authorization: Bearer <token>` with
CREDITS_METRICS_TOKEN, which Prometheus sends with `authorization: {credentials: …}` in
its scrape config; without a token set, it answers 403 and says which setting opens it.
A token, once set, is asked for on loopback too.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.observability.metrics import Metrics
from app.settings import Settings, is_loopback

SAMPLE_INTERVAL = 1.0  # seconds
NO_TOKEN = (
    "/metrics is open on a loopback address only: set CREDITS_METRICS_TOKEN and scrape "
    "with Authorization: Bearer <token>\n"
)


def refusal(request: Request, settings: Settings) -> Response | None:
    token = settings.metrics_token
    if not token:
        return None if is_loopback(settings.host) else PlainTextResponse(NO_TOKEN, 403)
    given = request.headers.get("authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return None
    headers = {"www-authenticate": "Bearer"}
    return PlainTextResponse("Send Authorization: Bearer <metrics token>\n", 401, headers)


async def metrics_endpoint(request: Request) -> Response:
    state = request.app.state
    refused = refusal(request, state.settings)
    if refused is not None:
        return refused
    metrics: Metrics = state.metrics
    sample(state)
    runtime = state.runtime
    await metrics.sample_at_scrape(runtime.engine, runtime.clock.now())
    return Response(metrics.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def sample(state: Any) -> None:
    """This process's open WebSockets, subscriptions and pooled connections, now."""
    state.metrics.sample(state.runtime.engine, state.sessions.subscriptions)


async def keep_sampled(state: Any, interval: float = SAMPLE_INTERVAL) -> None:
    """In multiprocess mode a scrape reads every worker's files: each worker refreshes its
    gauges there every second (the scraped one also at the scrape)."""
    while True:
        sample(state)
        await asyncio.sleep(interval)
