"""Strawberry's WebSocket protocol handlers, taking turns with everything else.

A socket's handler reads every message already buffered without yielding, and each
`subscribe` starts an operation that parses, validates and starts executing in one go:
40 sockets sending 100 subscriptions each would start 4,000 operations in a few turns
of the event loop, and an HTTP request would wait seconds behind them. Here messages are
handled a few at a time in the whole process (`TURNS`), each followed by one turn of
the loop in which its operation takes its first steps, up to its first database read
(which waits at the read gate, see app.storage.engine).
"""

from __future__ import annotations

import asyncio
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

TURNS = 4  # WebSocket messages handled at once, all sockets together


def message_turns() -> asyncio.Semaphore:
    return asyncio.Semaphore(TURNS)


async def take_turn(context: Any, handle: Any, message: Any) -> None:
    async with context.request.app.state.message_turns:
        await handle(message)
        await asyncio.sleep(0)  # the operation it started takes its first steps


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    async def handle_message(self, message: Any) -> None:
        await take_turn(self.context, super().handle_message, message)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, None]):
    async def handle_message(self, message: Any) -> None:
        await take_turn(self.context, super().handle_message, message)
