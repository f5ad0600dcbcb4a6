"""Signing keys need no configuration to scale (DESIGN §10): `credits migrate` makes one,
every process on the database signs and verifies with the same keys, `credits keys
rotate-signing` adds one and keeps the old one for the tokens it signed. Each test runs on
a SQLite file and on a PostgreSQL scratch database (when CREDITS_TEST_POSTGRES_URL is set),
with one engine per simulated process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.auth import Authenticator
from app.cli import main
from app.domain.access import Viewer, ViewerKind
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.portal import create_portal_token
from app.services.runtime import Runtime
from app.services.signing import SigningKeys, rotate
from app.storage import migrations
from app.storage.engine import create_engine, read_connection, write_transaction
from app.storage.tables import signing_keys
from tests.access.test_tokens import key_of
from tests.databases import empty_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database brought to head by the migrations, as `credits migrate` leaves it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'credits.db'}"
        migrations.upgrade(url)
        yield url
        return
    with empty_postgres(request.getfixturevalue("postgres_url"), "credits_signing") as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture
async def engines(database: str) -> AsyncIterator[list[AsyncEngine]]:
    """Eight engines on the one database: eight processes, as far as keys go."""
    async with AsyncExitStack() as stack:
        made = [create_engine(database) for _ in range(8)]
        for engine in made:
            stack.push_async_callback(engine.dispose)
        yield made


async def rows(engine: AsyncEngine) -> list[tuple[int, datetime | None]]:
    """Every signing key's id and retirement instant."""
    async with read_connection(engine) as connection:
        found = await connection.execute(
            select(signing_keys.c.id, signing_keys.c.retired_at).order_by(signing_keys.c.id)
        )
        return [(row.id, row.retired_at) for row in found]


def runtime_on(engine: AsyncEngine, clock: FrozenClock) -> Runtime:
    return Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())


async def token_for(
    engine: AsyncEngine, clock: FrozenClock, authenticator: Authenticator, customer_id: str
) -> str:
    """A one-hour portal token made through `authenticator`'s keys, as an Authorization."""
    token, _ = await create_portal_token(
        runtime_on(engine, clock),
        signing_keys=authenticator.signing_keys,
        customer_id=customer_id,
        expires_in=timedelta(hours=1),
    )
    return f"Bearer {token}"


def authenticator(engine: AsyncEngine, clock: FrozenClock, signing_key: str = "") -> Authenticator:
    return Authenticator(engine, clock, "127.0.0.1", signing_key)


async def test_the_migration_leaves_exactly_one_signing_key(engines: list[AsyncEngine]) -> None:
    async with read_connection(engines[0]) as connection:
        found = (await connection.execute(select(signing_keys))).all()
    assert len(found) == 1
    key = found[0]
    assert (key.id, key.retired_at, len(key.secret)) == (1, None, 43)  # 256 random bits
    assert key.created_at.tzinfo is UTC and key.created_at <= datetime.now(UTC)


async def test_two_processes_accept_each_others_tokens_and_a_rotation_on_a_third(
    engines: list[AsyncEngine], database: str, clock: FrozenClock
) -> None:
    first, second = engines[:2]
    one, two = authenticator(first, clock), authenticator(second, clock)
    customer_id, _ = await create_customer(runtime_on(first, clock), key="alpha", name="Alpha")
    portal = Viewer(
        ViewerKind.PORTAL_TOKEN,
        "portal",
        customer_id=customer_id,
        expires_at=clock.now() + timedelta(hours=1),
    )
    old = [
        await token_for(first, clock, one, customer_id),
        await token_for(second, clock, two, customer_id),
    ]
    assert [key_of(token) for token in old] == ["1", "1"]
    for token in old:
        assert (await one.viewer(token), await two.viewer(token)) == (portal, portal)

    # the command line is a third process; the two servers keep running
    assert (
        await asyncio.to_thread(main, ["keys", "rotate-signing", "--database-url", database]) == 0
    )
    new = [
        await token_for(first, clock, one, customer_id),
        await token_for(second, clock, two, customer_id),
    ]
    assert [key_of(token) for token in new] == ["2", "2"]
    for token in old + new:
        assert (await one.viewer(token), await two.viewer(token)) == (portal, portal)
    assert [key_id for key_id, _ in await rows(first)] == [1, 2]


async def test_processes_making_the_first_key_at_once_agree_on_one(
    engines: list[AsyncEngine], clock: FrozenClock
) -> None:
    async with write_transaction(engines[0]) as connection:  # a schema made without migrate
        await connection.execute(delete(signing_keys))
    made = await asyncio.gather(*(SigningKeys(engine).current(clock.now()) for engine in engines))
    assert {key.id for key in made} == {"1"}
    assert len({key.secret for key in made}) == 1
    assert await rows(engines[0]) == [(1, None)]


async def test_rotations_at_once_each_add_a_key_and_leave_one_signing(
    engines: list[AsyncEngine], clock: FrozenClock
) -> None:
    now = clock.now()
    rotations = await asyncio.gather(*(rotate(engine, now) for engine in engines[:5]))
    assert sorted(rotation.new_id for rotation in rotations) == [2, 3, 4, 5, 6]
    retired = sorted(key_id for rotation in rotations for key_id, _ in rotation.retired)
    assert retired == [1, 2, 3, 4, 5]
    assert await rows(engines[0]) == [(key_id, now) for key_id in range(1, 6)] + [(6, None)]
    assert (await SigningKeys(engines[1]).current(now)).id == "6"


async def test_a_rotation_removes_the_keys_whose_tokens_have_all_expired(
    engines: list[AsyncEngine], clock: FrozenClock
) -> None:
    engine = engines[0]
    first = clock.now()
    assert (await rotate(engine, first)).removed == []
    # key 1 signed tokens until `first`, valid for 30 days at most: a day's margin on top
    assert (await rotate(engine, first + timedelta(days=31) - timedelta(seconds=1))).removed == []
    third = await rotate(engine, first + timedelta(days=31))
    assert (third.new_id, third.removed) == (4, [1])
    assert [key_id for key_id, _ in await rows(engine)] == [2, 3, 4]


async def test_with_the_signing_key_set_the_database_keys_are_not_used(
    engines: list[AsyncEngine], clock: FrozenClock
) -> None:
    first, second = engines[:2]
    customer_id, _ = await create_customer(runtime_on(first, clock), key="alpha", name="Alpha")
    configured = authenticator(first, clock, "configured")
    other = authenticator(second, clock, "configured")
    unset = authenticator(second, clock)
    from_configured = await token_for(first, clock, configured, customer_id)
    from_database = await token_for(second, clock, unset, customer_id)
    assert (key_of(from_configured), key_of(from_database)) == ("env", "1")
    assert await other.viewer(from_configured) is not None  # same setting, same key
    assert await configured.viewer(from_database) is None
    assert await unset.viewer(from_configured) is None
    assert await authenticator(first, clock, "another").viewer(from_configured) is None


def test_keys_rotate_signing_says_which_key_signs_and_until_when_the_old_one_verifies(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["keys", "rotate-signing", "--database-url", database]) == 0
    retired_at = asyncio.run(retirement(database, 1))
    assert capsys.readouterr().out.splitlines() == [
        "signing key 2 signs every new portal token from now on",
        "signing key 1 still verifies the tokens it signed until they expire (30 days at most): "
        f"keep it until {stamp(retired_at + timedelta(days=30))}; "
        f"the first rotate-signing after {stamp(retired_at + timedelta(days=31))} removes it",
    ]
    monkeypatch.setenv("CREDITS_SIGNING_KEY", "configured")
    assert main(["keys", "rotate-signing", "--database-url", database]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "signing key 3 signs every new portal token from now on"
    assert lines[1].startswith("signing key 2 still verifies the tokens it signed")
    assert lines[2:] == [
        "note: CREDITS_SIGNING_KEY is set here; a server that has it signs and "
        "verifies with that key alone and ignores these"
    ]


async def retirement(database: str, key_id: int) -> datetime:
    engine = create_engine(database)
    try:
        found = dict(await rows(engine))[key_id]
    finally:
        await engine.dispose()
    assert found is not None
    return found


def stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"
