"""The keys portal tokens are signed with (docs/concepts.md, access).

Unless CREDITS_SIGNING_KEY overrides them, the keys live in the `signing_key` table, so
every process and host signs and verifies alike. The newest key signs, read from the
database for each token made (a rotation takes effect everywhere at once); every key
still kept verifies, so a token signed before a rotation works until it expires. Keys
are cached per process once read; a key this process has not seen yet is read once.

With the override, the one configured key signs and verifies and the table is ignored.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.engine import read_connection, write_transaction
from app.storage.tables import signing_keys

OVERRIDE_ID = "env"  # the key id tokens signed with CREDITS_SIGNING_KEY carry
KEY_ID = re.compile(r"[1-9][0-9]{0,8}")  # database ids: 1, 2, 3… (fits a 32-bit integer)
LONGEST_TOKEN = timedelta(days=30)
# A retired key is removed once every token it signed has expired, plus a day for a
# token signed as the rotation committed and for clocks that differ between hosts.
KEPT_AFTER_RETIREMENT = LONGEST_TOKEN + timedelta(days=1)


@dataclass(frozen=True)
class SigningKey:
    id: str
    secret: str


@dataclass(frozen=True)
class Rotation:
    new_id: int
    retired: list[tuple[int, datetime]]  # the keys this rotation retired; kept until …
    removed: list[int]  # keys retired long enough ago that no token of theirs is valid


class SigningKeys:
    """One process's view of the signing keys: the override, or the database's."""

    def __init__(self, engine: AsyncEngine, override: str = "") -> None:
        self.engine = engine
        self.override = SigningKey(OVERRIDE_ID, override) if override else None
        self.known: dict[str, str] = {}

    async def current(self, now: datetime) -> SigningKey:
        """The key to sign with now."""
        if self.override is not None:
            return self.override
        key = await newest_key(self.engine) or await first_key(self.engine, now)
        self.known[key.id] = key.secret
        return key

    async def secret(self, key_id: str) -> str | None:
        """The secret of a key that verifies tokens, or None for an unknown key."""
        if self.override is not None:
            return self.override.secret if key_id == OVERRIDE_ID else None
        if key_id not in self.known:
            if not KEY_ID.fullmatch(key_id):
                return None
            found = await read_secret(self.engine, int(key_id))
            if found is None:
                return None
            self.known[key_id] = found
        return self.known[key_id]


async def newest_key(engine: AsyncEngine) -> SigningKey | None:
    statement = select(signing_keys.c.id, signing_keys.c.secret).order_by(signing_keys.c.id.desc())
    async with read_connection(engine) as connection:
        row = (await connection.execute(statement.limit(1))).first()
    return None if row is None else SigningKey(str(row.id), row.secret)


async def read_secret(engine: AsyncEngine, key_id: int) -> str | None:
    async with read_connection(engine) as connection:
        found = await connection.execute(
            select(signing_keys.c.secret).where(signing_keys.c.id == key_id)
        )
        return found.scalar()


async def first_key(engine: AsyncEngine, now: datetime) -> SigningKey:
    """Key 1, for a database whose schema was made without `credits migrate`.

    Processes doing this at once all insert id 1: one wins, the others read its key.
    """
    try:
        async with write_transaction(engine) as connection:
            await connection.execute(insert(signing_keys).values(new_key(1, now)))
    except IntegrityError:
        pass
    key = await newest_key(engine)
    assert key is not None
    return key


def new_key(key_id: int, now: datetime) -> dict[str, object]:
    return {"id": key_id, "secret": secrets.token_urlsafe(32), "created_at": now}


async def rotate(engine: AsyncEngine, now: datetime) -> Rotation:
    """Adds a key that signs from now on; removes keys whose tokens have all expired."""
    for _ in range(10):  # a concurrent rotation took the same id: count again
        try:
            return await _rotate_once(engine, now)
        except IntegrityError:
            continue
    raise RuntimeError("signing keys: concurrent rotations took every id tried ten times")


async def _rotate_once(engine: AsyncEngine, now: datetime) -> Rotation:
    table = signing_keys
    async with write_transaction(engine) as connection:
        newest = (await connection.execute(select(func.max(table.c.id)))).scalar() or 0
        await connection.execute(insert(table).values(new_key(newest + 1, now)))
        retired = await connection.execute(
            update(table)
            .where(table.c.id <= newest, table.c.retired_at.is_(None))
            .values(retired_at=now)
            .returning(table.c.id)
        )
        removed = await connection.execute(
            delete(table)
            .where(table.c.retired_at <= now - KEPT_AFTER_RETIREMENT)
            .returning(table.c.id)
        )
        return Rotation(
            new_id=newest + 1,
            retired=sorted((key_id, now + LONGEST_TOKEN) for key_id in retired.scalars()),
            removed=sorted(removed.scalars()),
        )
