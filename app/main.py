"""Wires the layers: create_app(settings) -> Starlette.

Only this module and the CLI read settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.websocket_origin import normalize_allowed_origins
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.api.auth import Authenticator, AuthGuard
from app.api.context import Context, make_context
from app.api.dashboard import dashboard_routes
from app.api.export import EXPORT_PATH, export_route
from app.api.graphiql import favicon_route, graphiql_html, graphiql_mount
from app.api.guard import RequestGuard
from app.api.limits import Limits
from app.api.masking import log_expected_errors_at_info
from app.api.schema import get_schema
from app.api.sessions import ForgetClosed, Sessions
from app.api.socket_writes import RawSockets
from app.api.view import GraphQLView
from app.api.websocket import LegacyWSHandler, TransportWSHandler, message_turns
from app.domain.time import Clock, SystemClock
from app.live.broker import MemoryBroker
from app.live.deliverer import run_deliveries
from app.live.postgres import PostgresBroker
from app.live.scheduler import run_scheduler
from app.observability.endpoint import keep_sampled, metrics_endpoint
from app.observability.logs import configure_logging, wants_json
from app.observability.metrics import Metrics
from app.observability.publishing import CountingPublisher
from app.observability.requests import ObserveRequests, note_errors
from app.observability.tracing import traced
from app.services.currencies import CurrencyCatalog
from app.services.runtime import Publisher, Runtime
from app.services.webhooks.delivery import oldest_undelivered
from app.settings import Settings
from app.storage.engine import (
    create_engine,
    gate_reads,
    is_sqlite,
    live_read_gate,
    read_connection,
)

log = logging.getLogger("credits")
# Live subscriptions hold ~140 objects each for as long as they last. With CPython's
# default thresholds, setting up 4,000 of them ran a full collection about every 0.5 s,
# each pausing every request for up to 0.7 s. The old generation is collected rarely;
# the middle one often enough to stay small: at (10_000, 50, 1000) it gathered every
# subscription set up since its last collection and paused for 1.1-2.4 s (4,000
# subscriptions on SQLite); at (10_000, 5, 10_000) pauses stayed under 0.4 s, with
# full collections as rare as before (measured on 2 cores, tests/live/test_many_...).
GC_THRESHOLDS = (10_000, 5, 10_000)


class CreditsGraphQL(GraphQLView):
    graphql_transport_ws_handler_class = TransportWSHandler  # one message per turn
    graphql_ws_handler_class = LegacyWSHandler

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        state = request.app.state
        scope_state = request.scope.get("state", {})
        viewer = scope_state.get("viewer")  # set by AuthGuard; WebSockets: on_ws_connect
        context = await make_context(state.runtime, state.settings, viewer, request, response)
        context.request_id = scope_state.get("request_id", "")
        if isinstance(request, WebSocket):
            close_unless_initialised(request, context, state.settings.connection_init_timeout)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A WebSocket authenticates in connection_init; bad credentials close it (4403)."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = params.get("Authorization") or params.get("authorization")
        authenticator: Authenticator = context.request.app.state.authenticator
        viewer = await authenticator.viewer(
            authorization if isinstance(authorization, str) else None
        )
        if viewer is None:
            raise ConnectionRejectionError({"message": "Invalid or missing credentials"})
        context.see(viewer)
        state = context.request.app.state
        state.sessions.watch(context.request, viewer)
        gate_reads(state.live_reads)  # its subscriptions' reads leave requests connections
        return cast(UnsetType, UNSET)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(request.url.path))

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        note_errors(result.errors)  # the request's outcome, for its log line and metrics
        return await super().process_result(request, result)


def close_unless_initialised(socket: WebSocket, context: Context, timeout: float) -> None:
    """Both protocols: a socket with no accepted connection_init in time is closed (4408).

    Strawberry enforces this for graphql-transport-ws only; the legacy graphql-ws would
    otherwise keep a silent socket open for ever.
    """

    async def close() -> None:
        await asyncio.sleep(timeout)
        if context.viewer is None and socket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await socket.close(code=4408, reason="Connection initialisation timeout")

    context.tasks.append(asyncio.create_task(close()))


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    publisher: Publisher | None = None,
) -> Starlette:
    settings = settings or Settings.from_env()
    wants_json(settings.log_format)  # a bad CREDITS_LOG_FORMAT stops here, not at startup
    metrics = Metrics()
    runtimes: list[Runtime] = []  # the lifespan's, for the backlog gauge
    metrics.watch_webhook_backlog(lambda: oldest_undelivered(runtimes[-1]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)  # after uvicorn's own
        log_expected_errors_at_info()
        engine = create_engine(settings.database_url, statement_timeout=settings.execution_timeout)
        time = clock or SystemClock()
        broker = publisher or broker_for(settings.database_url, time)
        counted = CountingPublisher(broker, metrics)  # ledger entries, after each commit
        runtime = Runtime(engine, time, CurrencyCatalog(engine), counted)
        if isinstance(broker, PostgresBroker):
            await broker.start()
        app.state.runtime = runtime
        runtimes.append(runtime)
        app.state.settings = settings
        app.state.authenticator = Authenticator(
            engine, runtime.clock, settings.host, settings.signing_key
        )
        app.state.sessions = Sessions(engine, runtime.clock)
        app.state.live_reads = live_read_gate()
        app.state.message_turns = message_turns()
        app.state.metrics = metrics
        gc.set_threshold(*GC_THRESHOLDS)
        gc.freeze()  # what startup made is never garbage: full collections skip it
        watcher = asyncio.create_task(app.state.sessions.run())  # WebSocket credentials
        scheduler = None
        if settings.scheduler_enabled:
            scheduler = asyncio.create_task(run_scheduler(runtime, settings.scheduler_interval))
        deliverer = None
        if settings.scheduler_enabled and settings.webhook_delivery:  # background work
            deliverer = asyncio.create_task(
                run_deliveries(
                    runtime,
                    allow_loopback=settings.webhooks_allow_loopback,
                    outcome=lambda told: metrics.webhook_deliveries.labels(told).inc(),
                )
            )
        sampler = asyncio.create_task(keep_sampled(app.state)) if metrics.multiprocess else None
        try:
            yield
        finally:
            if sampler is not None:
                sampler.cancel()
            metrics.process_ended()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            for task in (scheduler, deliverer):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if isinstance(broker, PostgresBroker):
                await broker.stop()
            await engine.dispose()

    limits = Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        default_page_size=settings.default_page_size,
        introspection=settings.introspection,
    )
    graphql = CreditsGraphQL(
        traced(get_schema(limits)),
        graphql_ide="graphiql" if settings.graphiql else None,
        connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout),
        max_subscriptions_per_connection=None,  # ours, with LIMIT_EXCEEDED, in subscriptions
    )
    graphql.allowed_origins = normalize_allowed_origins(
        [origin.strip() for origin in settings.allowed_origins.split(",") if origin.strip()]
    )
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", ForgetClosed(graphql)),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route(EXPORT_PATH, export_route),
        graphiql_mount(),
        favicon_route(),
    ]
    if settings.dashboard:
        routes += dashboard_routes()
    guard = Middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        timeout=settings.execution_timeout,
        untimed=(EXPORT_PATH,),
    )
    named = [route.path for route in routes if isinstance(route, Route)]
    observe = Middleware(
        ObserveRequests, metrics=metrics, routes=named
    )  # sees all (RawSockets only notes sockets)
    middleware = [Middleware(RawSockets), observe, guard, Middleware(AuthGuard)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def broker_for(database_url: str, clock: Clock) -> Publisher:
    """One process fans out in memory (SQLite); on PostgreSQL every process hears every
    change through LISTEN/NOTIFY."""
    return MemoryBroker() if is_sqlite(database_url) else PostgresBroker(database_url, clock)


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
