"""The `credits` command: serve, migrate, demo, export-schema, verify, sweep, keys,
export-ledger, backup.

Settings come from CREDITS_* variables; a flag given on the command line wins.
Every command returns its exit code: 0 done, 1 a problem was found, 2 refused.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import uvicorn
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli_export import add_export_arguments, export_action
from app.cli_export import backup as backup_database
from app.cli_keys import add_keys_parser, keys_action
from app.domain.errors import DomainError
from app.domain.time import SystemClock
from app.live.publisher import publisher_for
from app.observability.metrics import prepare_workers
from app.services.currencies import CurrencyCatalog
from app.services.keys import any_key
from app.services.runtime import Runtime
from app.settings import Settings, is_loopback
from app.storage import migrations
from app.storage.engine import create_engine, is_sqlite
from app.storage.tables import entries

OPEN_MODE_MESSAGE = (
    "OPEN MODE while no API key exists: every request acts as ADMIN (loopback only). "
    "Create a key with `credits keys create --name NAME --role admin` to end it."
)
OPEN_ELSEWHERE_MESSAGE = (
    "refusing to listen on a non-loopback address while no API key exists "
    "(OPEN mode is for loopback only): create one with `credits keys create`"
)
SQLITE_WORKERS_MESSAGE = (
    "SQLite serves from one process only: use --workers 1, or set "
    "CREDITS_DATABASE_URL=postgresql://... to run several workers."
)
SUPPORTED_URLS = (
    "the database URL must be sqlite:///PATH (a file; sqlite:////ABSOLUTE/PATH) or "
    "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (postgres:// is taken as postgresql://)"
)
# The drivers the server runs on; a bare dialect gets its async driver (engine.async_url).
DRIVERS = {"sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg"}
Command = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    flags = ("database_url", "host", "port", "workers")
    settings = Settings.from_env(**{name: getattr(args, name, None) for name in flags})
    try:
        settings = dataclasses.replace(settings, database_url=supported(settings.database_url))
    except ValueError as error:
        print(f"credits {args.name}: {error}", file=sys.stderr)
        return 2
    command: Command = args.command
    try:
        return command(args, settings)
    except (DomainError, DBAPIError, OSError) as error:
        print(f"credits {args.name}: {reason(error)}", file=sys.stderr)
        return 1


def reason(error: Exception) -> str:
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, DBAPIError):
        return f"the database answered: {error.orig}"
    return str(error)


def supported(url: str) -> str:
    """The URL in a form the server runs on (postgres:// becomes postgresql://); a
    ValueError naming the supported forms for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"{url!r} is not a database URL: {SUPPORTED_URLS}") from None
    if parsed.drivername in ("postgres", "postgres+asyncpg"):
        parsed = parsed.set(drivername=parsed.drivername.replace("postgres", "postgresql", 1))
    if parsed.drivername not in DRIVERS:
        raise ValueError(f"{parsed.drivername}:// is not supported: {SUPPORTED_URLS}")
    return parsed.render_as_string(hide_password=False)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help="overrides CREDITS_DATABASE_URL")
    root = argparse.ArgumentParser(prog="credits", description="The credits server.")
    commands = root.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def add(name: str, command: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(command=command, name=name)
        return sub

    serving = add("serve", serve, "migrate (SQLite only) and serve the GraphQL API")
    serving.add_argument("--host", help="overrides CREDITS_HOST (default 127.0.0.1)")
    serving.add_argument("--port", type=int, help="overrides CREDITS_PORT (default 8000)")
    serving.add_argument("--workers", type=int, help="processes (PostgreSQL only; default 1)")
    add("migrate", migrate, "bring the database schema up to date")
    add("demo", demo, "load a small realistic data set (safe to repeat)")
    exporting = add("export-schema", export_schema, "print the GraphQL schema (SDL)")
    exporting.add_argument("--output", type=Path, help="write it to this file instead")
    add("verify", verify, "recompute every balance from the ledger and report differences")
    add("sweep", sweep, "book due scheduled events (funding, expiry) once")
    delivering = add("deliver", deliver, "deliver webhooks: a delivery worker on its own")
    delivering.add_argument(
        "--once", action="store_true", help="stop once nothing is due instead of running on"
    )
    add_keys_parser(add("keys", keys, "API keys, and the key portal tokens are signed with"))
    add_export_arguments(add("export-ledger", export_entries, "write the ledger as JSONL or CSV"))
    copying = add("backup", backup, "copy a SQLite database while it serves (not PostgreSQL)")
    copying.add_argument("file", type=Path, help="the copy to make (must not exist)")
    return root


# ---- commands


# WebSocket messages go out uncompressed: a live change is one small JSON message per
# subscriber, and per-message deflate compressed each one apart (a zlib stream per
# socket), about 0.1 ms of CPU per subscriber per change in scripts/bench live.
WS_COMPRESSION = False


def serve(args: argparse.Namespace, settings: Settings) -> int:
    if is_sqlite(settings.database_url):
        if settings.workers > 1:
            print(f"credits serve: {SQLITE_WORKERS_MESSAGE}", file=sys.stderr)
            return 2
        migrations.upgrade(settings.database_url)
    elif code := with_engine(settings, ready):
        return code
    open_mode = with_engine(settings, no_key) != 0
    if open_mode and not is_loopback(settings.host):
        print(f"credits serve: {OPEN_ELSEWHERE_MESSAGE}", file=sys.stderr)
        return 2
    try:
        listening = bind(settings.host, settings.port)
    except OSError as error:
        print(f"credits serve: {cannot_listen(settings, error)}", file=sys.stderr)
        return 2
    if open_mode:
        print(f"==> {OPEN_MODE_MESSAGE}", flush=True)
    if settings.workers > 1:
        listening.close()  # uvicorn's parent binds it again for its workers
        return serve_workers(settings)
    from app.main import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_max_size=settings.max_ws_message_bytes,
        ws_per_message_deflate=WS_COMPRESSION,
        timeout_keep_alive=settings.keep_alive,
    )
    server = AnnouncingServer(config, settings)
    server.run(sockets=[listening])
    return 0 if server.started else 3


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    migrations.upgrade(settings.database_url)
    print(f"{shown(settings.database_url)} is at revision {migrations.head_revision()} (head)")
    return 0


def demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import load_demo

    if is_sqlite(settings.database_url):
        migrations.upgrade(settings.database_url)
    return with_runtime(settings, load_demo, "demo data loaded: 4 customers in USD, EUR and TOKENS")


def export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from app.api.schema import export_schema as sdl

    text = sdl()
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def verify(args: argparse.Namespace, settings: Settings) -> int:
    return with_engine(settings, verify_ledger)


def sweep(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.scheduling import book_due_events

    async def run(runtime: Runtime) -> None:
        customers = await book_due_events(runtime)
        print(f"booked due events of {customers} customers")

    return with_runtime(settings, run)


def deliver(args: argparse.Namespace, settings: Settings) -> int:
    from app.live.deliverer import run_deliveries

    async def run(runtime: Runtime) -> None:
        allow = settings.webhooks_allow_loopback
        await run_deliveries(runtime, allow_loopback=allow, once=args.once)

    return with_runtime(settings, run)


def keys(args: argparse.Namespace, settings: Settings) -> int:
    if is_sqlite(settings.database_url):
        migrations.upgrade(settings.database_url)
    return with_engine(settings, keys_action(args, signing_key_set=bool(settings.signing_key)))


def export_entries(args: argparse.Namespace, settings: Settings) -> int:
    return with_engine(settings, export_action(args))


def backup(args: argparse.Namespace, settings: Settings) -> int:
    return backup_database(settings.database_url, args.file)


# ---- serving


class AnnouncingServer(uvicorn.Server):
    """Says loudly where it listens, once the socket is bound (port 0 shows the real port)."""

    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in self.servers:
            for bound in server.sockets:
                host, port = bound.getsockname()[:2]
                announce(self.settings, f"http://{host}:{port}/graphql")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is reported plainly (uvicorn would
    log `[Errno 98]` and exit); SO_REUSEADDR as uvicorn sets it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError:
        listening.close()
        raise
    listening.set_inheritable(True)
    return listening


def cannot_listen(settings: Settings, error: OSError) -> str:
    where = f"{settings.host}:{settings.port}"
    if error.errno == errno.EADDRINUSE:
        return (
            f"{where} is already in use (another credits server?): choose another port "
            "with --port N or CREDITS_PORT=N"
        )
    return (
        f"cannot listen on {where} ({error.strerror or error}): set --host/CREDITS_HOST "
        "and --port/CREDITS_PORT"
    )


def serve_workers(settings: Settings) -> int:
    """Several processes: each worker builds its app from the CREDITS_* variables."""
    for name in ("database_url", "host", "port", "workers"):
        os.environ[f"CREDITS_{name.upper()}"] = str(getattr(settings, name))
    prepare_workers()  # PROMETHEUS_MULTIPROC_DIR: /metrics adds up every worker's figures
    url = f"http://{settings.host}:{settings.port}/graphql"
    print(f"==> credits server starting {settings.workers} workers on {url}", flush=True)
    print(f"==> database {shown(settings.database_url)}", flush=True)
    uvicorn.run(
        "app.main:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        ws_max_size=settings.max_ws_message_bytes,
        ws_per_message_deflate=WS_COMPRESSION,
        timeout_keep_alive=settings.keep_alive,
    )
    return 0


def announce(settings: Settings, url: str) -> None:
    print(f"==> credits server listening on {url} (GraphiQL in a browser)", flush=True)
    print(f"==> database {shown(settings.database_url)}", flush=True)


async def no_key(engine: AsyncEngine) -> int:
    """0 when at least one API key exists (so the server is not in OPEN mode)."""
    return 0 if await any_key(engine) else 1


# ---- helpers


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def ready(engine: AsyncEngine) -> int:
    return 0


async def verify_ledger(engine: AsyncEngine) -> int:
    from app.services.verify import verify as differences

    problems = await differences(engine)
    for problem in problems:
        print(problem)
    if problems:
        print(f"ledger verification found {len(problems)} differences", file=sys.stderr)
        return 1
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(entries))).scalar_one()
    print(f"ledger verified: {count} entries, no differences")
    return 0


def with_engine(settings: Settings, use: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    """Run `use` on an engine for a database at the head revision; 2 if it is not."""
    url = settings.database_url
    if missing := missing_sqlite_file(url):
        print(f"credits: no database at {missing}: run `credits migrate`", file=sys.stderr)
        return 2

    async def run() -> int:
        engine = create_engine(url)
        try:
            if problem := await not_migrated(engine, url):
                print(f"credits: {problem}", file=sys.stderr)
                return 2
            return await use(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def not_migrated(engine: AsyncEngine, url: str) -> str | None:
    async with engine.connect() as connection:
        current = await migrations.current_revision(connection)
    head = migrations.head_revision()
    if current == head:
        return None
    return f"{shown(url)} is at revision {current}, not {head}: run `credits migrate`"


def missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file that does not exist (rather than create it empty)."""
    path = make_url(url).database
    if not is_sqlite(url) or not path or path == ":memory:" or Path(path).exists():
        return None
    return path


def with_runtime(
    settings: Settings, use: Callable[[Runtime], Awaitable[None]], done: str | None = None
) -> int:
    async def run(engine: AsyncEngine) -> int:
        await use(
            Runtime(
                engine, SystemClock(), CurrencyCatalog(engine), publisher_for(settings.database_url)
            )
        )
        if done:
            print(done)
        return 0

    return with_engine(settings, run)
