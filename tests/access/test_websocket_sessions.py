"""The per-process watcher of WebSocket credentials (app.api.sessions), without sockets on
the wire: what it watches, what it forgets, and that a tick costs one statement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.websockets import WebSocket

from app.api.sessions import Session, Sessions
from app.domain.access import OPEN_VIEWER, Role, Viewer, ViewerKind
from app.domain.time import FrozenClock
from app.services.keys import create_key, revoke_key


def socket() -> WebSocket:
    async def nothing(*args: Any) -> Any:
        return None

    return WebSocket({"type": "websocket", "path": "/graphql", "headers": []}, nothing, nothing)


def portal(clock: FrozenClock, minutes: int) -> Viewer:
    expires_at = clock.now() + timedelta(minutes=minutes)
    return Viewer(ViewerKind.PORTAL_TOKEN, "portal", customer_id="cus_1", expires_at=expires_at)


def ended(sessions: list[Session]) -> list[bool]:
    return [session.ended for session in sessions]


async def test_portal_sessions_end_at_their_expiry_and_forgotten_ones_leave_the_heap(
    engine: AsyncEngine, clock: FrozenClock
) -> None:
    sessions = Sessions(engine, clock)
    watched = [sessions.watch(socket(), portal(clock, minutes)) for minutes in range(1, 11)]
    for session in watched[4:]:
        sessions.forget(session)  # six sockets closed by their clients
    await sessions.tick()
    assert len(sessions.expiring) == 4  # the six were pruned

    clock.advance(timedelta(minutes=2))
    await sessions.tick()
    assert ended(watched[:4]) == [True, True, False, False]
    assert len(sessions.expiring) == 2


async def test_one_statement_a_tick_checks_every_key_and_open_mode(
    engine: AsyncEngine, clock: FrozenClock
) -> None:
    sessions = Sessions(engine, clock)
    open_session = sessions.watch(socket(), OPEN_VIEWER)
    await sessions.tick()
    assert not open_session.ended  # no key yet

    keys = [await create_key(engine, name=n, role=Role.READER, now=clock.now()) for n in "abc"]
    by_key = [
        sessions.watch(socket(), Viewer(ViewerKind.API_KEY, "k", Role.READER, key_id=key_id))
        for key_id, _ in keys
    ]
    assert await revoke_key(engine, keys[1][0], clock.now())
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT"):
            statements.append(statement)

    await sessions.tick()
    assert len(statements) == 1
    assert ended([open_session, *by_key]) == [True, False, True, False]
    assert set(sessions.by_key) == {keys[0][0], keys[2][0]}
    assert sessions.open == set()
