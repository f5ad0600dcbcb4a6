"""A webhook receiver on 127.0.0.1 that checks every signature, and short ways to run
deliveries in tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.domain.webhooks import EventType
from app.services.runtime import Runtime
from app.services.webhooks.delivery import deliver_due
from app.services.webhooks.endpoints import create_endpoint

ALL = list(EventType)


@dataclass
class Received:
    id: str
    timestamp: int
    signatures: list[str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """Records each POST; `answer` decides the status (200 unless told otherwise)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], int] = lambda _: 200
    delay: float = 0.0
    stalls: Callable[[Received], bool] = lambda _: False  # never answers these in time
    in_flight: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)  # ids posted again while in flight

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[Receiver]:
        receiver = cls()
        app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), "the receiver stopped before it started"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        receiver.url = f"http://127.0.0.1:{port}/hook"
        try:
            yield receiver
        finally:
            server.should_exit = True
            await task

    async def handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        headers = request.headers
        got = Received(
            id=headers["webhook-id"],
            timestamp=int(headers["webhook-timestamp"]),
            signatures=headers["webhook-signature"].split(" "),
            body=body,
        )
        self.received.append(got)
        if got.id in self.in_flight:
            self.overlaps.append(got.id)
        self.in_flight.add(got.id)
        try:
            if self.delay or self.stalls(got):
                await asyncio.sleep(self.delay or 1.0)
            return PlainTextResponse("ok", status_code=self.answer(got))
        finally:
            self.in_flight.discard(got.id)

    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.received]

    def first_of_each(self) -> list[dict[str, Any]]:
        """Each event once, as a receiver deduplicating by webhook-id keeps it."""
        first = {r.id: r for r in reversed(self.received)}
        return [r.event for r in self.received if first[r.id] is r]


def signed_by(received: Received, secret: str) -> bool:
    """Whether one of its signatures is the secret's, computed by the standardwebhooks
    library (not by the server's code)."""
    at = datetime.fromtimestamp(received.timestamp, UTC)
    expected = Webhook(secret).sign(received.id, at, received.body)
    return expected in received.signatures


async def endpoint(
    runtime: Runtime, receiver: Receiver, types: list[EventType] | None = None, **fields: Any
) -> tuple[str, str]:
    """A new endpoint posting to the receiver: its id and secret."""
    outcome = await create_endpoint(
        runtime, url=receiver.url, event_types=types or ALL, allow_loopback=True, **fields
    )
    assert outcome.secret is not None
    return outcome.endpoint.id, outcome.secret


async def deliver_all(runtime: Runtime, answer_within: float = 10.0) -> int:
    """Delivery rounds until nothing is due now: how many attempts were made."""
    made = 0
    async with httpx.AsyncClient() as client:
        while done := await deliver_due(
            runtime, client, allow_loopback=True, answer_within=answer_within
        ):
            made += done
    return made
