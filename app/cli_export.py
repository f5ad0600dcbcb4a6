"""`credits export-ledger` and `credits backup`: the ledger out, and a copy of the database.

The export streams one snapshot to stdout or a file (a progress bar on stderr when it is
a terminal). A backup of SQLite is SQLite's online backup API: one consistent copy of
the database, the WAL's committed pages included, taken while the server runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from tqdm import tqdm

from app.services.currencies import CurrencyCatalog
from app.services.export import ExportFormat, export_ledger
from app.storage.engine import BUSY_TIMEOUT_MS, is_sqlite
from app.storage.export import ExportFilter

PG_BACKUP_MESSAGE = (
    "on PostgreSQL use its own tools: `pg_dump --format=custom --file FILE URL` for a "
    "consistent copy while the server runs, base backups with WAL archiving for "
    "point-in-time recovery (docs/operations.md)"
)


def add_export_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument("--customer", help="only this customer's entries (a customer id)")
    export.add_argument("--currency", help="only entries in this currency")
    export.add_argument(
        "--from", dest="booked_from", type=instant, metavar="INSTANT", help="bookedAt >= this"
    )
    export.add_argument(
        "--to", dest="booked_before", type=instant, metavar="INSTANT", help="bookedAt < this"
    )
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")


def instant(text: str) -> datetime:
    """An RFC 3339 instant with its offset (argparse names the flag when this fails)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 instant with an offset, such as 2026-01-31T00:00:00Z"
        )
    return value


def export_action(args: argparse.Namespace) -> Callable[[AsyncEngine], Awaitable[int]]:
    which = ExportFilter(args.customer, args.currency, args.booked_from, args.booked_before)
    form = ExportFormat(args.format)

    async def run(engine: AsyncEngine) -> int:
        with _target(args.output) as out, _progress() as bar:
            chunks = export_ledger(
                engine,
                CurrencyCatalog(engine),
                which,
                form,
                on_total=None if bar is None else bar.reset,
            )
            written = 0
            async for text, count in chunks:
                out.write(text)
                written += count
                if bar is not None:
                    bar.update(count)
        where = f" to {args.output}" if args.output else ""
        print(f"exported {written} entries{where}", file=sys.stderr)
        return 0

    return run


@contextlib.contextmanager
def _target(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    if path.exists() and not path.is_file():  # /dev/null, a named pipe: written as it is
        with path.open("w", encoding="utf-8", newline="") as out:
            yield out
        return
    partial = path.with_name(f".{path.name}.partial")  # FILE appears only when complete
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _progress() -> Iterator[tqdm | None]:
    """A bar on stderr when it is a terminal; nothing in a pipe, a file or a log."""
    if not sys.stderr.isatty():
        yield None
        return
    with tqdm(total=0, unit=" entries", file=sys.stderr) as bar:
        yield bar


def backup(database_url: str, target: Path) -> int:
    """Copy a SQLite database to `target` (refused if it exists); 2 on PostgreSQL."""
    if not is_sqlite(database_url):
        print(f"credits backup: {PG_BACKUP_MESSAGE}", file=sys.stderr)
        return 2
    source = make_url(database_url).database
    if not source or source == ":memory:":
        print("credits backup: an in-memory database has nothing to back up", file=sys.stderr)
        return 2
    if not Path(source).exists():
        print(f"credits backup: no database at {source}", file=sys.stderr)
        return 2
    if target.exists():
        print(f"credits backup: {target} exists; give a new file name", file=sys.stderr)
        return 2
    partial = target.with_name(f".{target.name}.partial")
    copy_sqlite(Path(source), partial)
    os.replace(partial, target)  # a reader of `target` never sees half a copy
    entries = _count_entries(target)
    print(f"backed up {source} to {target}: {entries} ledger entries")
    return 0


def copy_sqlite(source: Path, target: Path) -> None:
    """One step of SQLite's backup API: a read transaction over the whole database, so the
    copy is one consistent state; writers go on meanwhile (WAL)."""
    with contextlib.closing(sqlite3.connect(source)) as origin:
        origin.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        with contextlib.closing(sqlite3.connect(target)) as copy:
            origin.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file


def _count_entries(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as copy:
        return int(copy.execute("SELECT count(*) FROM ledger_entry").fetchone()[0])
