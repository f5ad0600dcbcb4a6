"""The `credits` command, run in-process: exit codes and what it tells the operator."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from app.domain.time import SystemClock
from app.live.publisher import NullPublisher
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.storage import migrations
from app.storage.engine import create_engine


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'credits.db'}"


def counts(url: str) -> dict[str, int]:
    path = url.removeprefix("sqlite:///")
    tables = ("customer", "currency", "credit_grant", "credit_consumption", "ledger_entry")
    with sqlite3.connect(path) as connection:
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_verify_on_a_migrated_empty_database_finds_nothing(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.upgrade(database)
    assert main(["verify", "--database-url", database]) == 0
    assert "ledger verified: 0 entries, no differences" in capsys.readouterr().out


def test_verify_refuses_a_database_that_is_not_migrated(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite3.connect(database.removeprefix("sqlite:///")).close()
    assert main(["verify", "--database-url", database]) == 2
    head = migrations.head_revision()
    assert f"is at revision None, not {head}: run `credits migrate`" in capsys.readouterr().err


def test_verify_does_not_create_a_missing_sqlite_file(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--database-url", database]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not Path(database.removeprefix("sqlite:///")).exists()


def test_the_demo_loads_a_ledger_that_verifies(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--database-url", database]) == 0
    assert main(["verify", "--database-url", database]) == 0
    assert "no differences" in capsys.readouterr().out


def test_loading_the_demo_twice_duplicates_nothing(database: str) -> None:
    assert main(["demo", "--database-url", database]) == 0
    first = counts(database)
    assert main(["demo", "--database-url", database]) == 0
    assert counts(database) == first
    assert first["customer"] == 4
    assert first["ledger_entry"] > 10


def test_sweep_books_due_events_once(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    migrations.upgrade(database)
    assert main(["sweep", "--database-url", database]) == 0
    assert "booked due events of 0 customers" in capsys.readouterr().out


def test_serve_refuses_several_workers_on_sqlite(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", "2", "--database-url", database]) == 2
    assert "SQLite serves from one process only" in capsys.readouterr().err


def test_the_database_url_flag_wins_over_the_environment(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CREDITS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["migrate", "--database-url", database]) == 0
    assert database in capsys.readouterr().out


def test_the_demo_stops_when_its_keys_name_other_data(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.upgrade(database)

    async def create_other_acme() -> None:
        engine = create_engine(database)
        runtime = Runtime(engine, SystemClock(), CurrencyCatalog(engine), NullPublisher())
        await create_customer(runtime, key="demo-acme", name="Someone else")
        await engine.dispose()

    asyncio.run(create_other_acme())
    assert main(["demo", "--database-url", database]) == 1
    assert "'demo-acme' was already used with a different input" in capsys.readouterr().err
