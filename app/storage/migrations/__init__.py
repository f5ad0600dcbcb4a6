"""Bring a database schema up to date with Alembic, from Python.

The revisions live in this package (`versions/`, with Alembic's `env.py` beside it), so
an installed wheel can migrate. `alembic.ini` at the repository root points here too,
for developers who run `alembic revision --autogenerate`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for `database_url`, with no ini file and logging left alone."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str) -> None:
    """`alembic upgrade head`. Runs its own event loop: call it outside of one."""
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory(str(HERE)).get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_revision()
    )
