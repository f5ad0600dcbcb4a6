"""API keys: made and revoked from the command line, checked on every request.

A secret is `ck_<ULID of its id>_<random>`, shown once; only its SHA-256 is stored (the
secret is 256 random bits, so a plain hash is enough), and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.access import Role, Viewer, ViewerKind
from app.domain.ids import new_id
from app.storage.engine import read_connection, write_transaction
from app.storage.tables import api_keys

SECRET_PREFIX = "ck_"


class KeysCreated:
    """Keys made by this process: the server's OPEN-mode cache ends at once on one."""

    count = 0


keys_created = KeysCreated()


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    engine: AsyncEngine, *, name: str, role: Role, now: datetime
) -> tuple[str, str]:
    """A new key's id and its secret (the only time the secret is seen)."""
    key_id = new_id("api_key")
    secret = f"{SECRET_PREFIX}{key_id.removeprefix('key_')}_{secrets.token_urlsafe(32)}"
    values = {
        "id": key_id,
        "name": name,
        "role": role.value,
        "secret_hash": digest(secret),
        "created_at": now,
    }
    async with write_transaction(engine) as connection:
        await connection.execute(insert(api_keys).values(values))
    keys_created.count += 1
    return key_id, secret


async def list_keys(engine: AsyncEngine) -> list[ApiKeyInfo]:
    async with read_connection(engine) as connection:
        rows = await connection.execute(
            select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        )
        return [ApiKeyInfo(r.id, r.name, Role(r.role), r.created_at, r.revoked_at) for r in rows]


async def revoke_key(engine: AsyncEngine, key_id: str, now: datetime) -> bool:
    """True if the key existed and was live."""
    statement = (
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    async with write_transaction(engine) as connection:
        return (await connection.execute(statement)).rowcount == 1


async def any_key(engine: AsyncEngine) -> bool:
    """Whether any key was ever made: OPEN mode ends with the first one, for good."""
    async with read_connection(engine) as connection:
        return bool((await connection.execute(select(func.count()).select_from(api_keys))).scalar())


async def authenticate(engine: AsyncEngine, secret: str) -> Viewer | None:
    """The viewer a live key's secret stands for, or None."""
    body = secret.removeprefix(SECRET_PREFIX)
    ulid, _, _ = body.partition("_")
    if not secret.startswith(SECRET_PREFIX) or len(ulid) != 26:
        return None
    async with read_connection(engine) as connection:
        row = (
            await connection.execute(select(api_keys).where(api_keys.c.id == f"key_{ulid}"))
        ).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, digest(secret)):
        return None
    return Viewer(ViewerKind.API_KEY, row.name, Role(row.role), key_id=row.id)
