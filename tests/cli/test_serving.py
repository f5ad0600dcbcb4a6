"""`credits serve` and `credits export-schema`, which need the API layer."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import main

pytest.importorskip("app.main", reason="app.main is not written yet")
pytest.importorskip("app.api.schema", reason="app.api.schema is not written yet")

CLI = "import sys; from app.cli import main; sys.exit(main())"


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    output = tmp_path / "schema.graphql"
    assert main(["export-schema", "--output", str(output)]) == 0
    text = output.read_text()
    assert "type Query" in text
    assert "purchaseCredits" in text


def test_serve_migrates_sqlite_and_answers_on_the_announced_address(tmp_path: Path) -> None:
    with serving(tmp_path) as url:
        assert httpx.get(url.removesuffix("/graphql") + "/healthz").status_code == 200
        answer = httpx.post(url, json={"query": "{ currencies { code } }"}).json()
        assert {"code": "USD"} in answer["data"]["currencies"]


@contextlib.contextmanager
def serving(tmp_path: Path) -> Iterator[str]:
    """`credits serve` on a free port of its own, with its defaults; yields its /graphql URL."""
    log = tmp_path / "serve.log"
    database = f"sqlite:///{tmp_path / 'credits.db'}"
    command = [sys.executable, "-c", CLI, "serve", "--port", "0", "--database-url", database]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield announced_url(log)
    finally:
        server.terminate()
        server.wait(timeout=10)


def announced_url(log: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("==> credits server listening on "):
                return line.split()[5]
        time.sleep(0.1)
    raise AssertionError(f"no announcement within {timeout}s:\n{log.read_text()}")


async def test_connections_idle_longer_than_uvicorns_default_keep_alive_stay_usable(
    tmp_path: Path,
) -> None:
    """The server keeps idle connections 75 s by default (uvicorn's own default is 5 s): a
    client pool idle for 6 s then sends 50 requests at once over the connections it kept.
    (httpx drops a connection the server closed and opens another: a new local address.)"""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=60)
    with serving(tmp_path) as url:
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            first = await fifty_requests(client, url)
            await asyncio.sleep(6)
            second = await fifty_requests(client, url)
    assert second <= first, "the server closed connections the client kept"


async def fifty_requests(client: httpx.AsyncClient, url: str) -> set[object]:
    """Sends 50 requests at once; the local addresses of the connections they went over."""

    async def one() -> object:
        response = await client.post(url, json={"query": "{ currencies { code } }"})
        assert response.status_code == 200, response.text
        return response.extensions["network_stream"].get_extra_info("client_addr")

    return set(await asyncio.gather(*(one() for _ in range(50))))
