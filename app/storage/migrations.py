"""Bring a database schema up to date with Alembic, from Python.

The revisions live in `alembic/` at the repository root, beside the `app` package
(the project is installed with `pip install -e .`).
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

import app
from alembic import command

ROOT = Path(app.__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    """The project's alembic.ini, pointed at `database_url`, leaving logging alone."""
    config = Config(ROOT / "alembic.ini")
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str) -> None:
    """`alembic upgrade head`. Runs its own event loop: call it outside of one."""
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory(str(ROOT / "alembic")).get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_revision()
    )
