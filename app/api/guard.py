"""An ASGI guard around HTTP requests: a request id, the body size limit, the time limit.

The request id is the client's or load balancer's `X-Request-ID` when it is 1 to 128
characters of letters, digits and `._:-`, else a fresh ULID; the response echoes it and
the request's log line carries it. An oversized body answers 413 and a request over its
time answers 504, each with a GraphQL error body whose extensions.code is LIMIT_EXCEEDED
(the limits of docs/concepts.md, "Errors and limits"). An exception
that escapes the application answers a masked JSON 500, INTERNAL_SERVER_ERROR, with the
request id; the log has the trace under the same id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

log = logging.getLogger("credits.api")

# Safe to echo in a header and a log line: no spaces, quotes, newlines or control characters.
SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class TooLarge(Exception):
    pass


def error_body(message: str, request_id: str, *, code: str = "LIMIT_EXCEEDED") -> bytes:
    error = {"message": message, "extensions": {"code": code, "requestId": request_id}}
    return json.dumps({"data": None, "errors": [error]}).encode()


def incoming_request_id(scope: Scope) -> str | None:
    """The `X-Request-ID` the request came with, if it is safe to reuse."""
    sent: bytes | None = dict(scope.get("headers", [])).get(b"x-request-id")
    if sent is None or SAFE_REQUEST_ID.fullmatch(sent) is None:
        return None
    return sent.decode("ascii")


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        timeout: float,
        untimed: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout
        self.untimed = untimed  # paths that stream for as long as they take (the export)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or str(ULID())
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self.refuse(
                send_with_id,
                413,
                f"Request body exceeds the body size limit of {self.max_body_bytes} bytes",
                request_id,
            )
            return
        try:
            async with asyncio.timeout(None if scope["path"] in self.untimed else self.timeout):
                await self.app(scope, self.counting(receive), send_with_id)
        except TooLarge:
            if not started:
                await self.refuse(
                    send_with_id,
                    413,
                    f"Request body exceeds the body size limit of {self.max_body_bytes} bytes",
                    request_id,
                )
        except TimeoutError:
            if not started:
                await self.refuse(
                    send_with_id,
                    504,
                    f"Execution exceeded the time limit of {self.timeout:g} seconds",
                    request_id,
                )
        except Exception:
            log.exception("request %s failed", request_id)
            if started:
                raise
            await self.refuse(
                send_with_id, 500, "Internal server error", request_id, "INTERNAL_SERVER_ERROR"
            )

    def counting(self, receive: Receive) -> Receive:
        received = 0

        async def wrapped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise TooLarge()
            return message

        return wrapped

    @staticmethod
    async def refuse(
        send: Any, status: int, message: str, request_id: str, code: str = "LIMIT_EXCEEDED"
    ) -> None:
        body = error_body(message, request_id, code=code)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
