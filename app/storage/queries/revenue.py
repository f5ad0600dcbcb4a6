"""Revenue (docs/revenue.md): the ledger's amounts of paid grants summed in SQL, per period.

One statement, so one snapshot on either engine. Its rows are sums of entry amounts (integers
of the credit currency's smallest unit) grouped by period, credit currency, cost basis and
entry type: a handful per period, whatever the ledger's length. The report's entries are one
range of the `booked_at` index, each bucketed by the start of its UTC day, ISO week or month
(`date_trunc` on PostgreSQL, a prefix of the text or `strftime` on SQLite), valued through
its grant's cost basis.

The deferred figures need what remained at the report's start. `Anchor.LEDGER` sums the
entries booked before it; `Anchor.GRANTS` takes the grants' remaining credits now (the
cache `credits verify` checks against the ledger) less every entry booked since: the caller
picks whichever reads fewer entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, func, literal_column, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.grants import FundingMethod
from app.domain.revenue import RevenueInterval, period_start
from app.storage.tables import entries, grants

BEFORE = -1  # the period index of the entries booked before the report
AFTER = -2  # the period index of the entries booked after it, and of what remains now
REMAINING = "REMAINING"  # the type of the grants' remaining credits now


class Anchor(StrEnum):
    LEDGER = "LEDGER"
    GRANTS = "GRANTS"


@dataclass(frozen=True)
class RevenueSum:
    period: int  # index into the report's periods, or BEFORE / AFTER
    currency: str  # the credit currency
    cost_basis: str
    type: str  # an entry type, or REMAINING
    amount: int


async def first_booked_at(connection: AsyncConnection) -> datetime | None:
    """When the earliest entry was booked: one seek of the `booked_at` index."""
    found: datetime | None = (
        await connection.execute(select(func.min(entries.c.booked_at)))
    ).scalar_one()
    return found


async def read_revenue_sums(
    connection: AsyncConnection,
    purchase_currency: str,
    bounds: Sequence[datetime],
    interval: RevenueInterval,
    anchor: Anchor,
) -> list[RevenueSum]:
    """Period i is [bounds[i], bounds[i + 1]), each one `interval` long but the cut ends."""
    statement = revenue_statement(
        purchase_currency, bounds, interval, anchor, connection.dialect.name
    )
    index = {period_start(b, interval).date(): i for i, b in enumerate(bounds[:-1])}
    return [
        RevenueSum(
            index[_day(row.bucket)] if row.part == 0 else row.part,
            row.currency,
            row.cost_basis,
            row.type,
            int(row.amount),
        )
        for row in await connection.execute(statement)
    ]


def _day(bucket: str | datetime) -> date:
    if isinstance(bucket, str):  # SQLite's text: a day, or a month
        return date.fromisoformat(bucket if len(bucket) == 10 else f"{bucket}-01")
    return bucket.date()  # PostgreSQL's timestamp of UTC wall time


def revenue_statement(
    purchase_currency: str,
    bounds: Sequence[datetime],
    interval: RevenueInterval,
    anchor: Anchor,
    dialect: str,
) -> Select[Any]:
    booked = entries.c.booked_at
    inside = (booked >= bounds[0]) & (booked < bounds[-1])
    parts = [_sums(purchase_currency, inside, 0, dialect, _bucket(interval, dialect))]
    if anchor is Anchor.LEDGER:
        parts.append(_sums(purchase_currency, booked < bounds[0], BEFORE, dialect))
    else:
        parts.append(_sums(purchase_currency, booked >= bounds[-1], AFTER, dialect))
        parts.append(_remaining(purchase_currency))
    return union_all(*parts)  # type: ignore[return-value]


def _bucket(interval: RevenueInterval, dialect: str) -> ColumnElement[Any]:
    """The start of the entry's UTC day, ISO week or month (constants inline, so that the
    GROUP BY is the selected expression to PostgreSQL)."""
    booked = entries.c.booked_at
    if dialect == "sqlite":  # naive UTC text, "2026-01-31 12:00:00.000000": a prefix is cheap
        if interval is RevenueInterval.WEEK:  # the Monday on or before
            return func.strftime(_text("%Y-%m-%d"), booked, _text("weekday 0"), _text("-6 days"))
        length = 10 if interval is RevenueInterval.DAY else 7  # "2026-01-31" or "2026-01"
        return func.substr(booked, literal_column("1"), literal_column(str(length)))
    utc = func.timezone(_text("UTC"), booked)  # UTC wall time: cheaper per row
    return func.date_trunc(_text(interval.value.lower()), utc)


def _text(constant: str) -> ColumnElement[str]:
    return literal_column(f"'{constant}'")


def _sums(
    purchase_currency: str,
    booked: Any,
    part: int,
    dialect: str,
    bucket: ColumnElement[Any] | None = None,
) -> Select[Any]:
    """Amounts of the currency's paid grants by credit currency, cost basis, type (and bucket).

    PostgreSQL hashes the currency's grants and sums the range's entries straight into a
    few groups. SQLite sums the range per grant first, then looks each grant up once; left
    to itself it would walk the whole (grant_id, booked_at) index to group by grant without
    a sort, or seek every grant's entries: a unary + on the grant id takes that index out
    of its choice (the idiom its query planner documents)."""
    moved = _moved(booked, dialect, bucket).subquery("moved")
    by = [grants.c.currency, grants.c.cost_basis, moved.c.type]
    shown = moved.c.bucket if bucket is not None else null()
    return (
        select(literal_column(str(part), Integer()).label("part"), *by)
        .add_columns(func.sum(moved.c.amount).label("amount"), shown.label("bucket"))
        .select_from(moved.join(grants, grants.c.id == moved.c.grant_id))
        .where(grants.c.purchase_currency == purchase_currency)
        .group_by(*by, *([moved.c.bucket] if bucket is not None else []))
    )


def _moved(booked: Any, dialect: str, bucket: ColumnElement[Any] | None) -> Select[Any]:
    """The range's paid entries: grant, type, amount (and bucket), per grant on SQLite."""
    paid = entries.c.funding_method != FundingMethod.NONE.value
    buckets = [bucket.label("bucket")] if bucket is not None else []
    if dialect != "sqlite":
        columns = (entries.c.grant_id, entries.c.type, entries.c.amount)
        return select(*columns, *buckets).where(booked, paid)
    grant: ColumnElement[Any] = literal_column("+ledger_entry.grant_id")
    keys = [grant, entries.c.type, *([bucket] if bucket is not None else [])]
    return (
        select(grant.label("grant_id"), entries.c.type, *buckets)
        .add_columns(func.sum(entries.c.amount).label("amount"))
        .where(booked, paid)
        .group_by(*keys)
    )


def _remaining(purchase_currency: str) -> Select[Any]:
    keys = (grants.c.currency, grants.c.cost_basis)
    return (
        select(
            literal_column(str(AFTER), Integer()).label("part"),
            *keys,
            literal_column(f"'{REMAINING}'").label("type"),
            func.sum(grants.c.remaining).label("amount"),
            null().label("bucket"),
        )
        .where(grants.c.purchase_currency == purchase_currency, grants.c.remaining != 0)
        .group_by(*keys)
    )
