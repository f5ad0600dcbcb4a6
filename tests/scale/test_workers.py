"""`credits serve --workers 2` on PostgreSQL: WebSockets on either worker receive every
change, whichever worker committed it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.live.support import ENTRIES, Stream, tcp_of
from tests.scale.support import (
    Server,
    burst,
    connect,
    customer_with_credits,
    free_port,
    start_server,
    stop_server,
    until_listeners,
    worker_serving,
)


@pytest.fixture
async def workers(database_url: str) -> AsyncIterator[Server]:
    server = await start_server(database_url, port=free_port(), workers=2)
    try:
        await until_listeners(database_url, 2)  # each worker listens
        yield server
    finally:
        await stop_server(server)


async def test_sockets_on_both_workers_receive_every_entry(workers: Server) -> None:
    customer_id = await customer_with_credits(workers, "acme", "100")
    async with contextlib.AsyncExitStack() as stack:
        streams: dict[int, Stream] = {}  # by the worker serving the socket
        for _ in range(40):  # until both workers serve one (the kernel picks)
            session = await stack.enter_async_context(connect(workers))
            worker = worker_serving(workers, tcp_of(session).get_extra_info("sockname")[1])
            if worker not in streams:
                streams[worker] = Stream(
                    session, ENTRIES, customerId=customer_id, currency="USD", afterSequence=0
                )
                assert (await streams[worker].next())["sequence"] == 1
            if len(streams) == 2:
                break
        assert len(streams) == 2, "every socket went to the same worker"

        await burst(workers, customer_id, range(30))  # a new connection per request

        for stream in streams.values():
            received = await stream.take(30)
            assert [entry["sequence"] for entry in received] == list(range(2, 32))
            await stream.quiet(0.5)
            await stream.close()
