"""The servers measured, each a process of its own on a free loopback port: `credits serve`
as a user starts it (OPEN mode: the seeded database has no API key) and the floor app."""

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def credits_command(database_url: str, port: int) -> tuple[list[str], dict[str, str]]:
    command = [str(Path(sys.executable).parent / "credits"), "serve", "--port", str(port)]
    env = os.environ | {"CREDITS_DATABASE_URL": database_url, "CREDITS_LOG_LEVEL": "warning"}
    return command, env


def floor_command(database_url: str, port: int) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "benchmark.floor", database_url, str(port)]
    path = os.pathsep.join(filter(None, [str(SCRIPTS), os.environ.get("PYTHONPATH")]))
    return command, os.environ | {"PYTHONPATH": path}


@asynccontextmanager
async def serving(kind: str, database_url: str) -> AsyncIterator[str]:
    """`kind` ("credits" or "floor") serving `database_url`; yields its base URL."""
    port = free_port()
    make = credits_command if kind == "credits" else floor_command
    command, env = make(database_url, port)
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(process, kind, base, "/graphql" if kind == "credits" else "/health")
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_up(process: Process, kind: str, base: str, path: str) -> None:
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
