"""The Alembic revisions build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app.storage import migrations
from app.storage.engine import create_engine
from app.storage.tables import metadata
from tests.databases import empty_postgres

T = TypeVar("T")


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def schema(connection: Connection) -> dict[str, str]:
    """Each table's columns, indexes and unique constraints, as comparable text."""
    inspector = inspect(connection)
    return {
        name: repr(
            (
                inspector.get_columns(name),
                inspector.get_indexes(name),
                inspector.get_unique_constraints(name),
            )
        )
        for name in inspector.get_table_names()
    }


def describe(url: str) -> tuple[list[Any], dict[str, str], str | None]:
    """What the database at `url` differs from the metadata by, its schema, its revision."""

    async def read() -> tuple[list[Any], dict[str, str], str | None]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                found = await connection.run_sync(differences)
                tables = await connection.run_sync(schema)
                revision = await migrations.current_revision(connection)
            return found, tables, revision
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_a_fresh_sqlite_database_migrates_to_exactly_the_declared_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'credits.db'}"
    migrations.upgrade(url)
    found, tables, revision = describe(url)
    assert found == []
    assert set(metadata.tables) <= set(tables)
    assert revision == migrations.head_revision()


def test_upgrading_a_database_already_at_head_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'credits.db'}"
    migrations.upgrade(url)
    before = describe(url)
    migrations.upgrade(url)
    assert describe(url) == before


def test_a_fresh_postgresql_database_migrates_to_exactly_the_declared_tables(
    postgres_url: str,
) -> None:
    with empty_postgres(postgres_url, "credits_migrations") as scratch:
        migrations.upgrade(scratch)
        migrations.upgrade(scratch)
        found, tables, revision = describe(scratch)
    assert found == []
    assert set(metadata.tables) <= set(tables)
    assert revision == migrations.head_revision()


def read_then_redone(
    url: str,
    write: Callable[[str], Coroutine[Any, Any, None]],
    read: Callable[[str], Coroutine[Any, Any, T]],
    revision: str,
) -> tuple[T, T]:
    """What `read` finds after `write` at head, and again once the database went down to
    `revision` and back up to head (a revision's backfill of what was written before it)."""
    migrations.upgrade(url)
    asyncio.run(write(url))
    written = asyncio.run(read(url))
    command.downgrade(migrations.alembic_config(url), revision)
    migrations.upgrade(url)
    return written, asyncio.run(read(url))
