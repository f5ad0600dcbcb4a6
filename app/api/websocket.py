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
from collections.abc import Callable
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from app.api.fanout import OUTLET, SHARING, encoded_message, send_text
from app.api.socket_writes import can_write_now, protocol_of, write_now

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


class SocketOutlet:
    """An operation's results as this protocol's messages (`head`, then the payload):
    sent through the ASGI path, or written at once (`app.api.socket_writes`)."""

    def __init__(self, handler: Any, head: dict[str, str], completed: Callable[[], bool]) -> None:
        self.handler = handler
        self.head = head
        self.completed = completed
        self.protocol = protocol_of(handler.websocket.ws.scope)

    def message(self, data: Any) -> dict[str, Any]:
        return {**self.head, "payload": {"data": data}}

    async def __call__(self, data: Any) -> None:
        if not self.completed():  # as Operation.send_operation_message does
            await send_shared(self.handler, self.message(data))

    def ready(self) -> bool:
        return self.protocol is not None and can_write_now(self.protocol)

    def send_now(self, data: Any) -> None:
        if not self.completed():
            text = encoded_message(self.message(data), self.handler.view.encode_json)
            assert text is not None  # a payload of data alone, last
            write_now(self.protocol, text)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    async def handle_message(self, message: Any) -> None:
        await take_turn(self.context, super().handle_message, message)

    async def run_operation(self, operation: Operation[Any, None]) -> None:
        head = {"id": operation.id, "type": "next"}
        OUTLET.set(SocketOutlet(self, head, lambda: operation.completed))
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
        head = {"type": "data", "id": operation_id}
        OUTLET.set(SocketOutlet(self, head, lambda: False))
        await super().handle_async_results(operation_id, query, operation_name, variables)

    async def send_message(self, message: Any) -> None:
        counted(message)
        text = encoded_message(message, self.view.encode_json)
        if text is None:
            await super().send_message(message)
        else:
            await send_text(self.websocket, text)
