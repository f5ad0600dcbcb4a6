"""Bulk writes for seeding: COPY on PostgreSQL, big executemany batches on SQLite.

Rows are dicts keyed by column name, as `insert(table)` takes them; each value goes
through its column type's bind processing for the dialect, as SQLAlchemy would do, and
then straight to the driver (per-row SQLAlchemy work was half of a seed's time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Rows = dict[Table, list[dict[str, Any]]]
Writer = Callable[[Rows], Awaitable[None]]


async def bulk_writer(connection: AsyncConnection, tables: Sequence[Table]) -> Writer:
    """A function writing each batch in one transaction of its own, `tables` in order."""
    dialect = connection.dialect
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    if dialect.name == "sqlite":
        await raw.execute("PRAGMA synchronous=OFF")  # a seed is redone, never recovered

    async def write(rows: Rows) -> None:
        present = [(table, rows[table]) for table in tables if rows.get(table)]
        if dialect.name == "postgresql":
            async with raw.transaction():
                for table, batch in present:
                    names, records = driver_values(table, batch, dialect)
                    await raw.copy_records_to_table(table.name, records=records, columns=names)
            return
        await raw.execute("BEGIN IMMEDIATE")
        for table, batch in present:
            names, records = driver_values(table, batch, dialect)
            marks = ", ".join("?" * len(names))
            statement = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({marks})'
            await raw.executemany(statement, records)
        await raw.execute("COMMIT")

    return write


def driver_values(
    table: Table, rows: list[dict[str, Any]], dialect: Dialect
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names of the first row, and every row's values as the driver takes them."""
    names = list(rows[0])
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    records = [
        tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(processors, (row[name] for name in names), strict=True)
        )
        for row in rows
    ]
    return names, records
