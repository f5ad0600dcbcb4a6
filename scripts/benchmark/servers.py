"""The servers measured, each a process of its own on a free loopback port: `credits serve`
as a user starts it (OPEN mode: the seeded database has no API key), the same server without
the hash chain's work (benchmark.unchained) and the floor app. They start at the same time:
a start is mostly imports, and the machine has more than one core."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

SCRIPTS = Path(__file__).resolve().parent.parent
STARTUP = 120.0  # seconds a server may take to answer its first request
KINDS = ("credits", "unchained", "floor")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def command(kind: str, database_url: str, port: int) -> tuple[list[str], dict[str, str]]:
    path = os.pathsep.join(filter(None, [str(SCRIPTS), os.environ.get("PYTHONPATH")]))
    env = os.environ | {"PYTHONPATH": path}
    if kind == "floor":
        return [sys.executable, "-m", "benchmark.floor", database_url, str(port)], env
    env |= {"CREDITS_DATABASE_URL": database_url, "CREDITS_LOG_LEVEL": "warning"}
    serve = ["serve", "--port", str(port)]
    if kind == "unchained":
        return [sys.executable, "-m", "benchmark.unchained", *serve], env
    return [str(Path(sys.executable).parent / "credits"), *serve], env


@asynccontextmanager
async def serving(database_url: str, *kinds: str) -> AsyncIterator[dict[str, str]]:
    """Each of `kinds` (of KINDS) serving `database_url`, started together; yields their
    base URLs by kind."""
    started: dict[str, tuple[Process, str]] = {}
    try:
        for kind in kinds:
            port = free_port()
            argv, env = command(kind, database_url, port)
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=asyncio.subprocess.DEVNULL
            )
            started[kind] = process, f"http://127.0.0.1:{port}"
        await asyncio.gather(*(_wait_until_up(kind, *got) for kind, got in started.items()))
        yield {kind: base for kind, (_, base) in started.items()}
    finally:
        await asyncio.gather(*(_stop(process) for process, _ in started.values()))


async def _stop(process: Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _wait_until_up(kind: str, process: Process, base: str) -> None:
    path = "/health" if kind == "floor" else "/graphql"
    deadline = time.monotonic() + STARTUP
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the {kind} server exited with {process.returncode}")
            try:
                response = await client.post(path, json={"query": "{ __typename }"})
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the {kind} server did not answer within {STARTUP:.0f} s")
