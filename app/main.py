"""Wires the layers: create_app(settings) -> Starlette.

Only this module and the CLI read settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.api.context import Context, make_context
from app.api.graphiql import graphiql_html, graphiql_mount
from app.api.guard import RequestGuard
from app.api.limits import Limits
from app.api.schema import get_schema
from app.domain.time import Clock, SystemClock
from app.live.broker import MemoryBroker
from app.live.publisher import Publisher
from app.live.scheduler import run_scheduler
from app.services.currencies import CurrencyCatalog
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.engine import create_engine, read_connection

log = logging.getLogger("credits")


class CreditsGraphQL(GraphQL[Context, None]):
    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        state = request.app.state
        context = await make_context(state.runtime, state.settings, request, response)
        context.request_id = request.scope.get("state", {}).get("request_id", "")
        return context

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(request.url.path))


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    publisher: Publisher | None = None,
) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        runtime = Runtime(
            engine, clock or SystemClock(), CurrencyCatalog(engine), publisher or MemoryBroker()
        )
        app.state.runtime = runtime
        app.state.settings = settings
        scheduler = None
        if settings.scheduler_enabled:
            scheduler = asyncio.create_task(run_scheduler(runtime, settings.scheduler_interval))
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler
            await engine.dispose()

    limits = Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        default_page_size=settings.default_page_size,
    )
    graphql = CreditsGraphQL(
        get_schema(limits), graphql_ide="graphiql" if settings.graphiql else None
    )
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        graphiql_mount(),
    ]
    guard = Middleware(
        RequestGuard, max_body_bytes=settings.max_body_bytes, timeout=settings.execution_timeout
    )
    return Starlette(routes=routes, lifespan=lifespan, middleware=[guard])


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        async with read_connection(request.app.state.runtime.engine) as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        log.exception("readiness check failed")
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def app_from_env() -> Starlette:
    """The factory uvicorn workers call."""
    return create_app(Settings.from_env())
