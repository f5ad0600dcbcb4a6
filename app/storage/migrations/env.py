"""Alembic environment: runs migrations through the server's own async engine.

The URL is the config's `sqlalchemy.url` when a caller set it (`credits migrate`,
`app.storage.migrations.upgrade`), else CREDITS_DATABASE_URL through Settings.
SQLite cannot alter most of a table in place, so operations there run in batch mode.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool
from sqlmodel.sql.sqltypes import AutoString

from app.settings import Settings
from app.storage.engine import create_engine, is_sqlite
from app.storage.tables import metadata
from app.storage.types import UTCDateTime

config = context.config
target_metadata = metadata

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write the database-level type into revisions, never an application class."""
    if kind != "type":
        return False
    if isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    if isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(**options: Any) -> None:
    sqlite = is_sqlite(database_url())
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        transactional_ddl=True,  # on SQLite too: the engine emits BEGIN itself
        render_item=render_item,
        compare_type=True,
        **options,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    url = database_url()
    configure(url=sa.make_url(url), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
