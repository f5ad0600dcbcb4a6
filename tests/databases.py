"""Scratch PostgreSQL databases for tests that need a whole database of their own (the
migrations, an installed command, several engines or processes): made empty, dropped
afterwards with whatever is still connected to it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.storage.engine import create_engine


@contextmanager
def empty_postgres(postgres_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database `prefix_<hex>` on that server."""
    admin_url, name, url = _scratch(postgres_url, prefix)
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield url
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@asynccontextmanager
async def empty_postgres_async(postgres_url: str, prefix: str) -> AsyncIterator[str]:
    """`empty_postgres` in a running event loop."""
    admin_url, name, url = _scratch(postgres_url, prefix)
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield url
    finally:
        await _admin(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)')


def _scratch(postgres_url: str, prefix: str) -> tuple[str, str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_url).set(drivername="postgresql")
    url = admin.set(database=name).render_as_string(hide_password=False)
    return admin.render_as_string(hide_password=False), name, url


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
