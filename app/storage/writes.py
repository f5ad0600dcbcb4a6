"""The write path's statements, built once with bound parameters.

Building a SQLAlchemy statement and its cache key took 0.15-0.66 ms for these on the
(busy) bench machine, about what running a small one on SQLite takes; one built once
reuses its memoized cache key and compiled form. Each function runs one statement on
the write transaction's connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.balances import pending_at
from app.storage.tables import accounts, customers, entries, grants, schedules, scope_figures
from app.storage.thresholds import watched_column
from app.storage.types import UTCDateTime

_ledger = accounts.alias("ledger")
_last_booked = (
    select(func.max(_ledger.c.last_booked_at))
    .where(_ledger.c.customer_id == bindparam("customer_id"))
    .scalar_subquery()
    .label("last_booked")
)


def _first_event(table: Table) -> Select[Any]:
    """The customer's first due instant in `table`: the first of an index range."""
    return (
        select(table.c.next_event_at.label("at"))
        .where(table.c.customer_id == bindparam("customer_id"), table.c.next_event_at.is_not(None))
        .order_by(table.c.next_event_at)
        .limit(1)
    )


_events = union_all(
    *(select(_first_event(table).subquery()) for table in (grants, schedules))
).subquery()
_next_event = select(func.min(_events.c.at)).scalar_subquery().label("next_event")
_CUSTOMER: Select[Any] = select(customers.c.id, _last_booked, _next_event).where(
    customers.c.id == bindparam("customer_id")
)
_ACCOUNT_JOIN = and_(
    accounts.c.customer_id == customers.c.id, accounts.c.currency == bindparam("currency")
)


@cache
def _customer_and_account(dialect: str) -> Select[Any]:
    return (
        select(customers.c.id, _last_booked, _next_event, *accounts.c, watched_column(dialect))
        .select_from(customers.outerjoin(accounts, _ACCOUNT_JOIN))
        .where(customers.c.id == bindparam("customer_id"))
    )


@cache
def _account(dialect: str) -> Select[Any]:
    return select(*accounts.c, watched_column(dialect)).where(
        accounts.c.customer_id == bindparam("customer_id"),
        accounts.c.currency == bindparam("currency"),
    )


async def customer_state(
    connection: AsyncConnection, customer_id: str, currency: str | None
) -> Row[Any] | None:
    """The customer (None if there is none) with its last bookedAt across its ledgers
    (`last_booked`), the first instant of its grants' and schedules' next events
    (`next_event`) and, with a currency, its account's columns there (NULLs if it has
    none yet) and its thresholds (`watched`): index seeks."""
    if currency is None:
        result = await connection.execute(_CUSTOMER, {"customer_id": customer_id})
    else:
        parameters = {"customer_id": customer_id, "currency": currency}
        statement = _customer_and_account(connection.dialect.name)
        result = await connection.execute(statement, parameters)
    row: Row[Any] | None = result.first()
    return row


async def account_state(
    connection: AsyncConnection, customer_id: str, currency: str
) -> Row[Any] | None:
    """A ledger's account row (None if it has none yet) and its thresholds (`watched`)."""
    parameters = {"customer_id": customer_id, "currency": currency}
    row: Row[Any] | None = (
        await connection.execute(_account(connection.dialect.name), parameters)
    ).first()
    return row


_now = bindparam("now", type_=UTCDateTime())
_SPENDABLE = select(grants).where(
    grants.c.customer_id == bindparam("customer_id"),
    grants.c.currency == bindparam("currency"),
    or_(
        and_(grants.c.remaining > 0, grants.c.voided_at.is_(None)),
        and_(grants.c.created_at <= _now, pending_at(_now)),
    ),
)


async def spendable_grant_rows(
    connection: AsyncConnection, customer_id: str, currency: str, now: datetime
) -> list[Row[Any]]:
    """The customer's grants in the currency that may be drawn from, and those pending
    at `now`."""
    parameters = {"customer_id": customer_id, "currency": currency, "now": now}
    return list(await connection.execute(_SPENDABLE, parameters))


async def insert_unless_keyed(
    connection: AsyncConnection, table: Table, values: Mapping[str, Any]
) -> bool:
    """Insert a row unless the customer has one with its key (then write nothing): True if
    inserted. The unique (customer_id, key) decides, in the insert itself."""
    statement = _keyed_insert(connection.dialect.name, table)
    return (await connection.execute(statement, dict(values))).first() is not None


@cache
def _keyed_insert(dialect: str, table: Table) -> Any:
    make = sqlite_insert if dialect == "sqlite" else postgresql_insert
    return (
        make(table)
        .on_conflict_do_nothing(index_elements=[table.c.customer_id, table.c.key])
        .returning(table.c.id)
    )


_GRANT_UPDATE = update(grants).where(grants.c.id == bindparam("grant_id"))
_ACCOUNT_UPDATE = update(accounts).where(
    accounts.c.customer_id == bindparam("account_customer"),
    accounts.c.currency == bindparam("account_currency"),
)
_ACCOUNT_KEY = ("customer_id", "currency")
_ENTRY_INSERT = insert(entries)
_SCOPE_INSERT = insert(scope_figures)
_ACCOUNT_INSERT = insert(accounts)


async def update_grant(
    connection: AsyncConnection, grant_id: str, values: Mapping[str, Any]
) -> None:
    await connection.execute(_GRANT_UPDATE, {**values, "grant_id": grant_id})


async def write_account(
    connection: AsyncConnection, values: Mapping[str, Any], *, new: bool
) -> None:
    """Insert a ledger's account row, or update its figures."""
    if new:
        await connection.execute(_ACCOUNT_INSERT, dict(values))
        return
    figures = {name: value for name, value in values.items() if name not in _ACCOUNT_KEY}
    key = {"account_customer": values["customer_id"], "account_currency": values["currency"]}
    await connection.execute(_ACCOUNT_UPDATE, figures | key)


async def insert_entries(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await connection.execute(_ENTRY_INSERT, rows)


async def insert_scope_figures(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await connection.execute(_SCOPE_INSERT, rows)
