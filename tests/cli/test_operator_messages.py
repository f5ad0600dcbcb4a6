"""What the command tells an operator who got something wrong: a busy port, a database URL
it cannot use, an empty key list. A plain sentence and the setting that changes it; no
traceback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main, supported
from app.storage import migrations
from tests.scale.conftest import scratch_database

CLI = "import sys; from app.cli import main; sys.exit(main())"


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'credits.db'}"


def test_serve_on_a_busy_port_names_the_flag_and_the_setting_that_change_it(
    database: str,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", CLI, "serve", "--port", str(port), "--database-url", database],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"credits serve: 127.0.0.1:{port} is already in use (another credits server?): "
        "choose another port with --port N or CREDITS_PORT=N"
    )
    assert "Traceback" not in done.stdout + done.stderr and "Errno" not in done.stderr


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/credits", "mssql+pyodbc://sa@db/credits", "oracle://x@y/z"]
)
def test_an_unsupported_database_url_names_the_supported_forms(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--database-url", url]) == 2
    error = capsys.readouterr().err
    dialect = url.split("://")[0]
    assert error.startswith(f"credits migrate: {dialect}:// is not supported: ")
    assert "sqlite:///PATH" in error and "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in error


def test_text_that_is_no_url_at_all_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--database-url", "credits.db"]) == 2
    assert "'credits.db' is not a database URL: the database URL must be" in capsys.readouterr().err


def test_postgres_urls_are_taken_as_postgresql() -> None:
    assert supported("postgres://u:p@db:5433/credits") == "postgresql://u:p@db:5433/credits"
    assert supported("postgres+asyncpg://u@db/c") == "postgresql+asyncpg://u@db/c"
    assert supported("sqlite:///./credits.db") == "sqlite:///./credits.db"


async def test_a_postgres_url_migrates_and_verifies_a_real_database(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with scratch_database(postgres_url) as url:
        short = url.replace("postgresql://", "postgres://", 1)
        assert short.startswith("postgres://")
        assert await asyncio.to_thread(main, ["migrate", "--database-url", short]) == 0
        assert await asyncio.to_thread(main, ["verify", "--database-url", short]) == 0
    said = capsys.readouterr()
    assert "is at revision" in said.out and "ledger verified: 0 entries" in said.out
    assert "not supported" not in said.err and "Traceback" not in said.err  # (logs may be)


def test_keys_list_with_no_keys_says_so_and_how_to_make_one(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.upgrade(database)
    assert main(["keys", "list", "--database-url", database]) == 0
    assert capsys.readouterr().out == (
        "no API keys yet: a server on a loopback address runs in OPEN mode (every request "
        "acts as ADMIN); create one with `credits keys create --name NAME --role admin`\n"
    )
