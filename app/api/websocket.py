"""Strawberry's WebSocket protocol handlers, taking turns with everything else.

A socket's handler reads every message already buffered without yielding, and each
`subscribe` starts an operation that parses, validates and starts executing in one go:
40 sockets sending 100 subscriptions each would start 4,000 operations in a few turns
of the event loop, and an HTTP request would wait seconds behind them. Here at most
`TURNS` steps of live work begin in one turn of the loop: messages, of all sockets
together, and subscriptions woken by a read they shared (`app.api.live_reads`), which
then send their first result. A step holds its place only until the next turn, however
long it takes (a send to a client that does not read may wait for ever), so no socket
can hold up the others. A request needing a few turns (a read on SQLite takes about 20:
aiosqlite hands each cursor step to its thread and back) waits behind a few steps in
each, not behind hundreds.

A `next` (or legacy `data`) message whose payload other subscribers were sent too is
encoded once for all of them (`app.api.fanout`). Each operation's task knows its outlet:
how to send a result's data as this protocol's message for this operation, which the
subscription uses to send shared results itself, bypassing Strawberry's per-result work.
"""

from __future__ import annotations

import asyncio
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from app.api.fanout import OUTLET, SHARING, encoded_message, send_text

TURNS = 4  # steps of live work begun per turn of the event loop, all sockets together


def message_turns() -> asyncio.Semaphore:
    return asyncio.Semaphore(TURNS)


async def turn(turns: asyncio.Semaphore) -> None:
    """Waits for one of this turn's places; the place frees at the next turn."""
    await turns.acquire()
    asyncio.get_running_loop().call_soon(turns.release)


async def take_turn(context: Any, handle: Any, message: Any) -> None:
    await turn(context.request.app.state.message_turns)
    await handle(message)


def counted(message: Any) -> None:
    if message.get("type") in ("next", "data"):
        SHARING.processed += 1  # a result Strawberry processed, for tests


async def send_shared(handler: Any, message: Any) -> None:
    text = encoded_message(message, handler.view.encode_json)
    assert text is not None  # a payload of data alone, last
    await send_text(handler.websocket, text)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    async def handle_message(self, message: Any) -> None:
        await take_turn(self.context, super().handle_message, message)

    async def run_operation(self, operation: Operation[Any, None]) -> None:
        async def outlet(data: Any) -> None:
            if not operation.completed:  # as Operation.send_operation_message does
                await send_shared(
                    self, {"id": operation.id, "type": "next", "payload": {"data": data}}
                )

        OUTLET.set(outlet)
        await super().run_operation(operation)

    async def send_message(self, message: Any) -> None:
        counted(message)
        text = encoded_message(message, self.view.encode_json)
        if text is None:
            await super().send_message(message)
        else:
            await send_text(self.websocket, text)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, None]):
    async def handle_message(self, message: Any) -> None:
        await take_turn(self.context, super().handle_message, message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: Any
    ) -> None:
        async def outlet(data: Any) -> None:
            await send_shared(self, {"type": "data", "id": operation_id, "payload": {"data": data}})

        OUTLET.set(outlet)
        await super().handle_async_results(operation_id, query, operation_name, variables)

    async def send_message(self, message: Any) -> None:
        counted(message)
        text = encoded_message(message, self.view.encode_json)
        if text is None:
            await super().send_message(message)
        else:
            await send_text(self.websocket, text)
