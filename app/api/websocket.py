"""Strawberry's WebSocket protocol handlers, taking turns with everything else.

A socket's handler reads every message already buffered without yielding, and each
`subscribe` starts an operation that parses, validates and starts executing in one go:
40 sockets sending 100 subscriptions each would start 4,000 operations in a few turns
of the event loop, and an HTTP request would wait seconds behind them. Here at most
`TURNS` messages, of all sockets together, begin in one turn of the loop. A message
holds its place only until the next turn, however long it takes (a send to a client
that does not read may wait for ever), so no socket can hold up the others.

A `next` (or legacy `data`) message whose payload other subscribers were sent too is
encoded once for all of them (`app.api.fanout`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from app.api.fanout import encoded_message, send_text

TURNS = 4  # WebSocket messages begun per turn of the event loop, all sockets together


def message_turns() -> asyncio.Semaphore:
    return asyncio.Semaphore(TURNS)


async def take_turn(context: Any, handle: Any, message: Any) -> None:
    turns: asyncio.Semaphore = context.request.app.state.message_turns
    await turns.acquire()
    asyncio.get_running_loop().call_soon(turns.release)
    await handle(message)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    async def handle_message(self, message: Any) -> None:
        await take_turn(self.context, super().handle_message, message)

    async def send_message(self, message: Any) -> None:
        text = encoded_message(message, self.view.encode_json)
        if text is None:
            await super().send_message(message)
        else:
            await send_text(self.websocket, text)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, None]):
    async def handle_message(self, message: Any) -> None:
        await take_turn(self.context, super().handle_message, message)

    async def send_message(self, message: Any) -> None:
        text = encoded_message(message, self.view.encode_json)
        if text is None:
            await super().send_message(message)
        else:
            await send_text(self.websocket, text)
