"""`credits keys`: the secret is printed once, last; keys are listed without it; revoked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.cli import main
from app.domain.access import Role, ViewerKind
from app.services.keys import authenticate
from app.storage.engine import create_engine


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'credits.db'}"


def viewer_of(database: str, secret: str) -> object:
    async def run() -> object:
        engine = create_engine(database)
        try:
            return await authenticate(engine, secret)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_a_created_key_prints_its_secret_alone_on_the_last_line_and_authenticates(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["keys", "create", "--name", "billing", "--role", "writer", "--database-url", database]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    secret = lines[-1]
    assert secret.startswith("ck_") and " " not in secret and len(secret) > 60
    viewer = viewer_of(database, secret)
    assert viewer is not None
    assert (viewer.kind, viewer.role, viewer.name) == (ViewerKind.API_KEY, Role.WRITER, "billing")  # type: ignore[attr-defined]
    assert viewer_of(database, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None


def test_keys_are_listed_without_their_secrets_and_revoked_by_id(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["keys", "create", "--name", "ops", "--role", "admin", "--database-url", database])
        == 0
    )
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["keys", "list", "--database-url", database]) == 0
    listing = capsys.readouterr().out
    key_id = listing.split("\t")[0]
    assert key_id.startswith("key_") and "ADMIN\tlive\tops" in listing and secret not in listing

    assert main(["keys", "revoke", key_id, "--database-url", database]) == 0
    assert main(["keys", "list", "--database-url", database]) == 0
    assert "\trevoked " in capsys.readouterr().out
    assert viewer_of(database, secret) is None
    assert main(["keys", "revoke", key_id, "--database-url", database]) == 1
    assert f"no live key {key_id}" in capsys.readouterr().err


def test_a_role_outside_the_three_is_refused(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "--name", "x", "--role", "root", "--database-url", database])
    assert exited.value.code == 2


def test_serving_beyond_loopback_with_no_key_is_refused(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--database-url", database]) == 2
    assert "while no API key exists" in capsys.readouterr().err
