"""What every read selects: a table's columns with `labels` left as JSON text (decoded
only when a caller asks for labels), and the portal-token scope as a condition."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, Text, cast
from sqlalchemy.sql import ColumnElement


def readable(table: Table) -> list[ColumnElement[Any]]:
    return [cast(c, Text).label(c.name) if c.name == "labels" else c for c in table.columns]


def scoped(customer_column: ColumnElement[Any], scope: str | None) -> list[ColumnElement[bool]]:
    """The condition that keeps a portal token's reads to its one customer (none without)."""
    return [] if scope is None else [customer_column == scope]
