"""A WebSocket text frame written straight to its socket, when it can go at once.

A live event reaches a thousand sockets in one turn of the event loop only if each send
is a few microseconds of Python: Starlette's WebSocket, its exception wrapper and
uvicorn's ASGI `send` cost more than the frame itself. `RawSockets` (the outermost
middleware) keeps, for each WebSocket that uvicorn's sans-I/O implementation serves,
its protocol object; `write_now` frames a message (RFC 6455: one unmasked text frame,
as a server sends) and hands it to the transport, but only when uvicorn would have sent
it without waiting: handshake done, no close sent or received, the transport not paused
by back-pressure, and no extension negotiated (compression is off, as `credits serve`
runs). Otherwise it writes nothing and says so, and the caller takes the ASGI path,
which waits for the socket as it always did.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.protocol import State

PROTOCOL = "socket protocol"  # the key in a WebSocket scope's state
SANS_IO = "WebSocketsSansIOProtocol"  # uvicorn's implementation whose state we read


class RawSockets:
    """Keeps uvicorn's protocol object of each WebSocket in its scope's state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if type(protocol).__name__ == SANS_IO:
                scope.setdefault("state", {})[PROTOCOL] = protocol
        await self.app(scope, receive, send)


def protocol_of(scope: Scope) -> Any:
    """The socket's uvicorn protocol, or None (another server or implementation)."""
    return scope.get("state", {}).get(PROTOCOL)


def can_write_now(protocol: Any) -> bool:
    return bool(
        protocol.handshake_complete
        and not protocol.close_sent
        and not protocol.disconnected
        and protocol.initial_response is None
        and protocol.writable.is_set()
        and protocol.conn.state is State.OPEN
        and not protocol.conn.extensions
    )


def write_now(protocol: Any, text: str) -> bool:
    """Writes `text` as one frame if the socket takes it at once (see the module)."""
    if not can_write_now(protocol):
        return False
    protocol.transport.write(text_frame(text.encode()))
    return True


def text_frame(payload: bytes) -> bytes:
    """FIN and the text opcode, then the length in 7, 16 or 64 bits, unmasked."""
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return head + payload
