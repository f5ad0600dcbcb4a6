"""Every HTTP request timed, counted and logged once; WebSockets counted while open.

The GraphQL layer notes what it learns on the request's `Observation`, found through a
context variable: the operation's name, its outcome (the code of its first error, or of
an expected failure answered as data; `internal` for an unexpected one) and the
exception of an unexpected failure, which the request's log line carries with its trace.
A request GraphQL never saw (refused by a guard, or another route) gets its outcome from
the HTTP status.

One log line a request: request id (the X-Request-ID answered), method, path, operation,
outcome, status, duration and actor (the key's id, the portal token's customer, or open;
never a secret). Probes and scrapes log at debug.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain.access import Viewer, ViewerKind
from app.observability import logs
from app.observability.metrics import Metrics

log = logging.getLogger(logs.REQUEST_LOGGER)

SUCCESS = "success"
INTERNAL = "internal"
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
BY_STATUS = {
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    413: "LIMIT_EXCEEDED",
    504: "LIMIT_EXCEEDED",
}


@dataclass(slots=True)
class Observation:
    scope: Scope = field(repr=False)
    operation: str | None = None  # None: GraphQL did not run; "": an unnamed operation
    outcome: str | None = None
    error: BaseException | None = None

    @property
    def request_id(self) -> str:
        return str(self.scope.get("state", {}).get("request_id", ""))


current: ContextVar[Observation | None] = ContextVar("observation", default=None)


def observation() -> Observation | None:
    """The current HTTP request's observation; None on a WebSocket or outside a request."""
    return current.get()


def note_outcome(code: str) -> None:
    """An expected failure answered as data (a member of a mutation's result union)."""
    observed = current.get()
    if observed is not None and observed.outcome is None:
        observed.outcome = code


def note_errors(errors: Sequence[GraphQLError] | None) -> None:
    """The errors of a GraphQL answer, as it leaves (masked, every one with a code)."""
    observed = current.get()
    if observed is None or not errors:
        return
    codes = [str((error.extensions or {}).get("code") or INTERNAL) for error in errors]
    internal = INTERNAL in codes or "INTERNAL_SERVER_ERROR" in codes
    observed.outcome = INTERNAL if internal else codes[0]


def outcome_of(status: int) -> str:
    if status < 400:
        return SUCCESS
    return BY_STATUS.get(status) or (INTERNAL if status >= 500 else "BAD_REQUEST")


def actor_of(viewer: Viewer | None) -> str:
    if viewer is None:
        return ""
    if viewer.kind is ViewerKind.API_KEY:
        return f"key:{viewer.key_id}"
    if viewer.kind is ViewerKind.PORTAL_TOKEN:
        return f"portal:{viewer.customer_id}"
    return "open"


class ObserveRequests:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        graphql_path: str = "/graphql",
        routes: Collection[str] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.graphql_path = graphql_path
        self.routes = frozenset(routes)  # other paths counted by name; the rest as "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            self.metrics.open_websockets += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.metrics.open_websockets -= 1
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        observed = Observation(scope)
        token = current.set(observed)
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            current.reset(token)
            self.finish(observed, status, time.perf_counter() - started)

    def finish(self, observed: Observation, status: int, seconds: float) -> None:
        scope = observed.scope
        path: str = scope["path"]
        if path == self.graphql_path:
            operation = self.metrics.operation_label(observed.operation)
        elif path in self.routes:
            operation = f"{scope['method']} {path}"
        else:
            operation = "other"
        outcome = observed.outcome or outcome_of(status)
        self.metrics.observe(operation, outcome, seconds)
        if outcome == INTERNAL:
            level = logging.ERROR
        else:
            level = logging.DEBUG if path in QUIET else logging.INFO
        request_log = logs.request_log
        if request_log is None:  # logging left to whoever runs the app: a standard record
            if log.isEnabledFor(level):
                line = fields(observed, outcome, status, seconds)
                log.log(level, "request", exc_info=observed.error, extra=line)
        elif level >= request_log.level:
            request_log.write(level, fields(observed, outcome, status, seconds), observed.error)
        observed.error = None  # the trace holds the request's frames: let them go


def fields(observed: Observation, outcome: str, status: int, seconds: float) -> dict[str, Any]:
    scope = observed.scope
    state = scope.get("state", {})
    return {
        "request_id": state.get("request_id", ""),
        "method": scope["method"],
        "path": scope["path"],
        "operation": None if observed.operation is None else observed.operation[:100],
        "outcome": outcome,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "actor": actor_of(state.get("viewer")),
    }
