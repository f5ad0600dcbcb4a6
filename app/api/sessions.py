"""The process's WebSockets: credentials checked for a socket's whole life.

A socket's viewer is watched from its accepted `connection_init` until it closes. One
watcher per process ticks about twice a second: it ends the sockets of portal tokens
whose expiry instant has passed (a heap, so a tick looks only at what is due), and, with
ONE statement, those of API keys no longer live in the database, revoked by this
process or any other, and those of OPEN mode once a first key exists. Ending a socket
closes it with 4403; from that moment every further event and new subscription of it is
refused in memory (`admit`), without waiting for the close to go out.

The process's subscription count, for the server-wide limit, is kept here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from app.domain.access import Viewer, ViewerKind
from app.domain.time import Clock
from app.storage.engine import read_connection
from app.storage.tables import api_keys

if TYPE_CHECKING:
    from app.api.context import Context
    from app.api.live_reads import LiveReads

INTERVAL = 0.5  # seconds between the watcher's ticks: a revocation ends sockets within this
CLOSE_CODE = 4403
log = logging.getLogger("credits.live")


@dataclass(eq=False)
class Session:
    viewer: Viewer
    socket: WebSocket
    ended: bool = False
    closing: asyncio.Task[None] | None = field(default=None, repr=False)


class Sessions:
    def __init__(self, engine: AsyncEngine, clock: Clock, interval: float = INTERVAL) -> None:
        self.engine = engine
        self.clock = clock
        self.interval = interval
        self.by_key: dict[str, set[Session]] = defaultdict(set)
        self.open: set[Session] = set()  # OPEN mode's: the first key ends them
        self.expiring: list[tuple[datetime, int, Session]] = []
        self.order = itertools.count()
        self.stale = 0  # ended sessions possibly still in the heap
        self.subscriptions = 0  # live subscriptions of this process, all sockets
        self.reads: LiveReads | None = None  # what starting subscriptions read, shared

    def watch(self, socket: WebSocket, viewer: Viewer) -> Session:
        session = Session(viewer, socket)
        if viewer.key_id is not None:
            self.by_key[viewer.key_id].add(session)
        if viewer.expires_at is not None:
            heapq.heappush(self.expiring, (viewer.expires_at, next(self.order), session))
        if viewer.kind is ViewerKind.OPEN:
            self.open.add(session)
        socket.scope.setdefault("state", {})["session"] = session
        return session

    def forget(self, session: Session) -> None:
        """The socket closed, or is closing: nothing is left to watch."""
        session.ended = True
        key_id = session.viewer.key_id
        if key_id is not None and session in self.by_key.get(key_id, ()):
            self.by_key[key_id].discard(session)
            if not self.by_key[key_id]:
                del self.by_key[key_id]
        if session.viewer.expires_at is not None:
            self.stale += 1  # still in the heap until due: pruned in bulk
        self.open.discard(session)

    def holds(self, session: Session) -> bool:
        """Whether the socket's credentials hold, closing nothing (`admit` does that)."""
        expires_at = session.viewer.expires_at
        return not session.ended and (expires_at is None or expires_at > self.clock.now())

    async def admit(self, session: Session) -> None:
        """Returns if the socket's credentials still hold; else closes it (4403) and waits
        for the socket's handler to cancel the caller: nothing more is sent."""
        expires_at = session.viewer.expires_at
        if expires_at is not None and expires_at <= self.clock.now():
            self.end(session)
        if session.ended:
            if session.closing is not None:
                await session.closing
            await asyncio.Event().wait()

    def end(self, session: Session) -> None:
        if session.closing is None:
            self.forget(session)
            session.closing = asyncio.create_task(close(session.socket))

    async def tick(self) -> None:
        self.end_expired(self.clock.now())
        if self.by_key or self.open:
            await self.end_revoked()
        if self.stale * 2 > len(self.expiring):
            self.expiring = [item for item in self.expiring if not item[2].ended]
            heapq.heapify(self.expiring)
            self.stale = 0

    def end_expired(self, now: datetime) -> None:
        while self.expiring and self.expiring[0][0] <= now:
            session = heapq.heappop(self.expiring)[2]
            if not session.ended:
                self.end(session)

    async def end_revoked(self) -> None:
        watched = list(self.by_key)
        live, any_key = await key_states(self.engine, watched, any_key=bool(self.open))
        ended = [s for key_id in set(watched) - live for s in self.by_key.get(key_id, ())]
        for session in ended + (list(self.open) if any_key else []):
            self.end(session)

    async def run(self) -> None:
        """The watcher: ticks until cancelled; a failed tick is logged and retried."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("checking the credentials of WebSockets failed")
            await asyncio.sleep(self.interval)


async def key_states(
    engine: AsyncEngine, key_ids: list[str], *, any_key: bool
) -> tuple[set[str], bool]:
    """Which of these API keys are live (neither revoked nor gone) and, when asked,
    whether any key exists at all: one statement. (Asked only while OPEN mode sockets
    are open, that is while no key existed a tick ago: it then reads a few rows.)"""
    wanted = api_keys.c.id.in_(key_ids)
    statement = select(api_keys.c.id, api_keys.c.revoked_at).where(
        or_(wanted, true()) if any_key else wanted
    )
    async with read_connection(engine) as connection:
        rows = list(await connection.execute(statement))
    return {str(row.id) for row in rows if row.revoked_at is None}, bool(rows)


async def close(socket: WebSocket) -> None:
    if socket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await socket.close(code=CLOSE_CODE, reason="Credentials revoked or expired")


async def check_viewer(context: Context) -> None:
    """Before each event and each new subscription: returns while the credentials of the
    context's WebSocket hold (or it is no WebSocket); else never returns (see `admit`)."""
    session = session_of(context)
    if session is not None:
        await sessions_of(context).admit(session)


def session_of(context: Context) -> Session | None:
    """The watched session of the context's WebSocket (None for anything else)."""
    request: Any = context.request
    if isinstance(request, WebSocket):
        session = request.scope.get("state", {}).get("session")
        if isinstance(session, Session):
            return session
    return None


def sessions_of(context: Context) -> Sessions:
    sessions: Sessions = context.request.app.state.sessions
    return sessions


class ForgetClosed:
    """Wraps the WebSocket endpoint: a socket's session is forgotten when the socket ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            session = scope.get("state", {}).get("session")
            if isinstance(session, Session):
                scope["app"].state.sessions.forget(session)
