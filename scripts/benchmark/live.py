"""Live fan-out: subscribers of creditLedgerEntryBooked on one customer, over real
WebSockets (graphql-transport-ws) to uvicorn on 127.0.0.1 (port 0) in this process, on
the run's database; the subscribers run in a second process with its own event loop.
Then consumptions, one after another (each waits until every subscriber has its entry);
for each, the time from its commit to its receipt by each subscriber, on the wall clock
(the kernel's receive timestamps are on it). Receipt is when the subscriber's kernel
received the bytes (on Linux; elsewhere when the client read them): one Python process
parsing 1,000 sockets' messages on a 2-core machine would otherwise add its own backlog,
which is the bench client's, not the server's; that figure is reported beside it. The
commit is taken as the call's start: events go out right after the commit, before the
call returns, so the figure is an upper bound that includes the write transaction itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import socket
import struct
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import uvicorn
import uvloop
from starlette.applications import Starlette
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from app.cli import WS_COMPRESSION
from app.domain.ledger import OPEN
from app.live.broker import Broker
from app.main import create_app
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from app.services.runtime import Runtime
from app.settings import Settings
from benchmark.load import Stats
from benchmark.measure import Results

LIVE_SUBSCRIPTION = """
subscription Entries($customerId: ID!, $after: Int!) {
  creditLedgerEntryBooked(customerId: $customerId, currency: "USD", afterSequence: $after) {
    id sequence type amount availableBalanceAfter bookedAt
  }
}"""
WARMUP = 3  # mutations before the measured ones: caches, first sends


def raise_open_files(wanted: int) -> int:
    """Raise the soft limit on open files (1,000 sockets each side) up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def subscribers_process(
    url: str, customer_id: str, after: int, count: int, last: int, pipe: Connection
) -> None:
    """The subscribers' side, in a process of its own, on uvloop as the server."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_subscribers(url, customer_id, after, count, last, pipe))


# Linux's receive timestamps, in nanoseconds (<asm-generic/socket.h>; Python's socket
# module does not name them): the instant the kernel put the bytes in the socket.
SO_TIMESTAMPNS = 35
KERNEL_TIMES = sys.platform == "linux"


class Subscriber:
    """One WebSocket on a socket of its own, read where it arrives (no task per socket).

    Two receipt times per message, on the wall clock (CLOCK_REALTIME, as the kernel's):
    when the kernel received the bytes (SO_TIMESTAMPNS; the budget's receipt, which the
    bench client's own parsing cannot delay), and when this client read them, before
    parsing (what one Python process reading 1,000 sockets adds). Frames are parsed by
    websockets' sans-I/O protocol and decoded by orjson."""

    def __init__(
        self,
        sock: socket.socket,
        url: str,
        subscribe: bytes,
        heard: Callable[[int, float, float], None],
        done: asyncio.Future[None],
    ) -> None:
        self.sock = sock
        self.client = ClientProtocol(
            parse_uri(url), subprotocols=[Subprotocol("graphql-transport-ws")]
        )
        self.subscribe = subscribe
        self.heard = heard
        self.done = done
        self.acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.client.send_request(self.client.connect())
        self.flush()
        asyncio.get_running_loop().add_reader(sock.fileno(), self.readable)

    def flush(self) -> None:
        for data in self.client.data_to_send():
            if data:
                self.sock.sendall(data)  # a few hundred bytes to an empty buffer

    def readable(self) -> None:
        data, ancillary, _, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(16))
        read = time.time()
        kernel = next(
            (
                seconds + nanoseconds / 1e9
                for level, kind, value in ancillary
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                for seconds, nanoseconds in [struct.unpack("qq", value[:16])]
            ),
            read,
        )
        if not data:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            return
        opening = self.client.state is not State.OPEN
        self.client.receive_data(data)
        if opening and self.client.state is State.OPEN:
            self.client.send_text(orjson.dumps({"type": "connection_init", "payload": {}}))
        for event in self.client.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.message(orjson.loads(event.data), kernel, read)
        self.flush()

    def message(self, body: dict[str, Any], kernel: float, read: float) -> None:
        if body["type"] == "connection_ack":
            self.client.send_text(self.subscribe)
            self.acked.set_result(None)
        elif body["type"] != "next" or "errors" in body["payload"]:
            if not self.done.done():
                self.done.set_exception(RuntimeError(f"unexpected message: {body}"))
        else:
            sequence = body["payload"]["data"]["creditLedgerEntryBooked"]["sequence"]
            self.heard(sequence, kernel, read)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.client.send_close()
        with contextlib.suppress(OSError):
            self.flush()
        self.sock.close()


async def run_subscribers(
    url: str, customer_id: str, after: int, count: int, last: int, pipe: Connection
) -> None:
    received: dict[int, list[tuple[float, float]]] = defaultdict(list)
    done = asyncio.get_running_loop().create_future()
    subscribe = orjson.dumps(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": LIVE_SUBSCRIPTION,
                "variables": {"customerId": customer_id, "after": after},
            },
        }
    )

    def heard(sequence: int, kernel: float, read: float) -> None:
        times = received[sequence]
        times.append((kernel, read))
        if len(times) == count:
            pipe.send(("delivered", sequence))
            if sequence == last:
                done.set_result(None)

    host, port = urlsplit(url).hostname, urlsplit(url).port
    assert host is not None and port is not None, url

    async def connect() -> Subscriber:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if KERNEL_TIMES:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        subscriber = Subscriber(sock, url, subscribe, heard, done)
        await subscriber.acked
        return subscriber

    sockets: list[Subscriber] = []
    for start in range(0, count, 100):  # 100 handshakes at a time
        batch = range(start, min(count, start + 100))
        sockets.extend(await asyncio.gather(*(connect() for _ in batch)))
    pipe.send(("connected", len(sockets)))
    await done
    pipe.send(("received", dict(received)))
    for subscriber in sockets:
        subscriber.close()


async def start_server(
    database_url: str,
) -> tuple[Starlette, uvicorn.Server, asyncio.Task[None], str]:
    app = create_app(Settings(database_url=database_url, scheduler_enabled=False))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        log_level="warning",
        ws_per_message_deflate=WS_COMPRESSION,  # as `credits serve`
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return app, server, serving, f"ws://{host}:{port}/graphql"


async def fan_out(database_url: str, subscribers: int, mutations: int) -> Results:
    """Commit to receipt by every subscriber ("each") and by the last of them ("last"),
    the server on uvloop in a thread of its own, as `credits serve` runs it."""

    def run() -> Results:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(serve_and_measure(database_url, subscribers, mutations))

    return await asyncio.to_thread(run)


async def serve_and_measure(database_url: str, subscribers: int, mutations: int) -> Results:
    raise_open_files(2 * subscribers + 512)
    app, server, serving, url = await start_server(database_url)
    runtime: Runtime = app.state.runtime
    broker = cast(Broker, runtime.publisher)
    total = WARMUP + mutations
    customer_id, _ = await create_customer(runtime, key="bench-live", name="Bench live")
    grant = GrantRequest(
        customer_id=customer_id, name="live", currency="USD", amount=Decimal(total)
    )
    await grant_promotional_credits(runtime, actor=OPEN, request=grant)  # sequence 1

    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=subscribers_process,
        args=(url, customer_id, 1, subscribers, 1 + total, theirs),
        daemon=True,
    )

    async def message(kind: str, within: float) -> Any:
        got, value = await asyncio.wait_for(loop.run_in_executor(None, ours.recv), within)
        assert got == kind, (got, value)
        return value

    started = time.monotonic()
    process.start()
    theirs.close()  # the child's end: our reads end (EOFError) if the child dies
    try:
        await message("connected", 90)
        while broker.subscriber_count() < subscribers:
            assert time.monotonic() - started < 120, "subscriptions did not start"
            await asyncio.sleep(0.01)
        committed: dict[int, float] = {}
        for n in range(total):
            request = ConsumeRequest(
                customer_id=customer_id, key=f"live-{n}", currency="USD", amount=Decimal(1)
            )
            committed[n + 2] = time.time()  # subscribers may hear before it returns
            await consume_credits(runtime, actor=OPEN, request=request)
            assert await message("delivered", 30) == n + 2
        received: dict[int, list[tuple[float, float]]] = await message("received", 30)
        await asyncio.to_thread(process.join, 30)
    finally:
        if process.is_alive():
            process.kill()
        server.should_exit = True
        await serving

    measured = range(2 + WARMUP, 2 + total)
    assert all(len(received[s]) == subscribers for s in committed), "lost or repeated"
    each = [t[0] - committed[s] for s in measured for t in received[s]]
    last = [max(t[0] for t in received[s]) - committed[s] for s in measured]
    read = [t[1] - committed[s] for s in measured for t in received[s]]
    return {
        "live": {
            "each": Stats(latencies=each),
            "last": Stats(latencies=last),
            "read": Stats(latencies=read),
        }
    }
