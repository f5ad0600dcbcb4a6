"""`credits backup`: a consistent copy of a SQLite database taken while a real server
writes to it; PostgreSQL is pointed at pg_dump."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.storage import migrations
from tests.scale.support import (
    CREDITS,
    consume,
    customer_with_credits,
    eventually,
    fresh_client,
    start_server,
    stop_server,
)


async def run_command(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        CREDITS, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


def consumption_keys(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as copy:
        return {key for (key,) in copy.execute("SELECT key FROM credit_consumption")}


async def test_a_backup_during_a_write_burst_verifies_and_holds_every_acknowledged_entry(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'credits.db'}"
    copy = tmp_path / "backup.db"
    server = await start_server(database)
    acknowledged: list[str] = []
    stop = asyncio.Event()

    async def writes() -> int:
        return len(acknowledged)

    async def writer(client: httpx.AsyncClient, customer: str, name: str) -> None:
        n = 0
        while not stop.is_set():
            key = f"{name}-{n}"
            assert await consume(client, customer, key, "0.01") == "ConsumeCreditsSuccess"
            acknowledged.append(key)
            n += 1

    try:
        customers = [await customer_with_credits(server, f"c{n}", "1000") for n in range(3)]
        async with fresh_client(server) as client:
            writers = [
                asyncio.create_task(writer(client, customer, f"w{n}"))
                for n, customer in enumerate(customers)
            ]
            await eventually(writes, lambda n: n >= 60, "60 acknowledged writes")
            before = set(acknowledged)  # acknowledged before the backup started
            code, said = await run_command("backup", str(copy), "--database-url", database)
            during = len(acknowledged)  # the server still writes after the copy:
            await eventually(writes, lambda n: n >= during + 30, "30 writes more")
            stop.set()
            await asyncio.gather(*writers)
    finally:
        stop.set()
        await stop_server(server)
    assert code == 0, said
    assert said.startswith(f"backed up {tmp_path / 'credits.db'} to {copy}: ")
    kept = consumption_keys(copy)
    assert before <= kept, f"missing from the copy: {sorted(before - kept)[:5]}"
    assert len(kept) < len(acknowledged)  # writes went on after the copy was taken
    code, said = await run_command("verify", "--database-url", f"sqlite:///{copy}")
    assert code == 0, said
    entries = len(kept) + len(customers)  # one CONSUMED each, one FUNDED per customer
    assert said.strip().endswith(f"ledger verified: {entries} entries, no differences")


def test_a_backup_never_overwrites_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'credits.db'}"
    migrations.upgrade(database)
    taken = tmp_path / "copy.db"
    taken.write_text("keep me")
    assert main(["backup", str(taken), "--database-url", database]) == 2
    assert "exists; give a new file name" in capsys.readouterr().err
    assert taken.read_text() == "keep me"


def test_a_backup_of_a_missing_database_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'missing.db'}"
    assert main(["backup", str(tmp_path / "copy.db"), "--database-url", database]) == 2
    assert "no database at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_postgresql_backups_are_pg_dumps_job(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://credits@db.example/credits"
    assert main(["backup", "/tmp/never.db", "--database-url", url]) == 2
    error = capsys.readouterr().err
    assert "pg_dump --format=custom" in error and "point-in-time recovery" in error
