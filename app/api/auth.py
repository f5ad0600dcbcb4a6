"""Who a request is: an API key, a portal token, or OPEN mode (docs/concepts.md, "Access").

HTTP requests are authenticated here, before GraphQL runs: missing or bad credentials
answer 401 with an UNAUTHENTICATED GraphQL error. WebSockets authenticate in
`connection_init` (see `CreditsGraphQL.on_ws_connect`). OPEN mode lasts while no API key
exists and the server listens only on loopback; the first key ends it, also for a
server already running.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from app.domain.access import OPEN_VIEWER, Viewer
from app.domain.time import Clock
from app.services.keys import any_key, authenticate, keys_created
from app.services.portal import TOKEN_PREFIX, read_token
from app.services.signing import SigningKeys
from app.settings import is_loopback
from app.storage.engine import one_connection

OPEN_MODE_RECHECK = timedelta(seconds=1)


class Authenticator:
    def __init__(self, engine: AsyncEngine, clock: Clock, host: str, signing_key: str) -> None:
        self.engine = engine
        self.clock = clock
        self.loopback = is_loopback(host)
        self.signing_keys = SigningKeys(engine, override=signing_key)
        self.keys_exist = False
        self.checked_at: datetime | None = None  # by the app's clock, the last "any key?"
        self.created_seen = keys_created.count

    async def open_mode(self) -> bool:
        """No statement per request: a key, once made, exists for good (OPEN mode never
        returns), and while none does, the database is asked at most once a second, or at
        once when this process has made a key since (another process's first key: within
        1 s). Seconds of the app's clock: under a test's frozen clock, none pass."""
        if not self.loopback:
            return False
        if not self.keys_exist and self._recheck_due():
            self.keys_exist = await any_key(self.engine)
        return not self.keys_exist

    def _recheck_due(self) -> bool:
        now, created = self.clock.now(), keys_created.count
        recent = self.checked_at is not None and (
            timedelta(0) <= now - self.checked_at < OPEN_MODE_RECHECK  # not if set back
        )
        if recent and created == self.created_seen:
            return False
        self.checked_at, self.created_seen = now, created
        return True

    async def viewer(self, authorization: str | None) -> Viewer | None:
        """The viewer these credentials stand for; None when they are missing or bad."""
        if not authorization:
            return OPEN_VIEWER if await self.open_mode() else None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if token.startswith(TOKEN_PREFIX):
            return await read_token(token, self.signing_keys, self.clock.now())
        return await authenticate(self.engine, token)


def unauthenticated_body(message: str) -> bytes:
    error = {"message": message, "extensions": {"code": "UNAUTHENTICATED"}}
    return json.dumps({"data": None, "errors": [error]}).encode()


class AuthGuard:
    """Authenticates every GraphQL HTTP request; the GraphiQL page itself needs nothing."""

    def __init__(self, app: ASGIApp, *, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator = scope["app"].state.authenticator
        headers = dict(scope.get("headers", []))
        raw = headers.get(b"authorization")
        viewer = await authenticator.viewer(raw.decode("latin-1") if raw is not None else None)
        if viewer is None:
            message = (
                "Missing credentials" if raw is None else "Invalid, revoked or expired credentials"
            )
            body = unauthenticated_body(
                f"{message}: send Authorization: Bearer <API key or portal token>"
            )
            response_headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ]
            await send({"type": "http.response.start", "status": 401, "headers": response_headers})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["viewer"] = viewer
        async with one_connection(authenticator.engine):  # one pooled connection a request
            await self.app(scope, receive, send)


def is_ide_page(scope: Scope) -> bool:
    """A browser's GET for the GraphiQL page: no parameters at all, decoded or not."""
    if scope["method"] != "GET" or QueryParams(scope.get("query_string", b"")):
        return False
    accept: Any = dict(scope.get("headers", [])).get(b"accept", b"")
    return b"text/html" in accept
