"""Revenue (DESIGN §16): the ledger's amounts of paid grants summed in SQL, per period.

One statement, so one snapshot on either engine. Its rows are sums of entry amounts (integers
of the credit currency's smallest unit) grouped by period, credit currency, cost basis and
entry type: a handful per period, whatever the ledger's length. Each period is a range of
the `booked_at` index; the grant of each entry in it is a primary-key lookup.

The deferred figures need what remained at the report's start. `Anchor.LEDGER` sums the
entries booked before it; `Anchor.GRANTS` takes the grants' remaining credits now (the
cache `credits verify` checks against the ledger) less every entry booked since: the caller
picks whichever reads fewer entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    and_,
    column,
    func,
    literal_column,
    select,
    union_all,
    values,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.grants import FundingMethod
from app.storage.tables import entries, grants
from app.storage.types import UTCDateTime

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
    anchor: Anchor,
) -> list[RevenueSum]:
    """Period i is [bounds[i], bounds[i + 1])."""
    statement = revenue_statement(purchase_currency, bounds, anchor)
    return [
        RevenueSum(int(row.period), row.currency, row.cost_basis, row.type, int(row.amount))
        for row in await connection.execute(statement)
    ]


def revenue_statement(
    purchase_currency: str, bounds: Sequence[datetime], anchor: Anchor
) -> Select[Any]:
    periods = values(
        column("period", Integer()),
        column("starts", UTCDateTime()),
        column("ends", UTCDateTime()),
        name="period",
    ).data([(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)])
    period = periods.cte("period")
    within = and_(entries.c.booked_at >= period.c.starts, entries.c.booked_at < period.c.ends)
    in_periods = _sums(purchase_currency, within, period.c.period).select_from(period)
    if anchor is Anchor.LEDGER:
        before = _sums(purchase_currency, entries.c.booked_at < bounds[0], BEFORE)
        return union_all(in_periods, before)  # type: ignore[return-value]
    after = _sums(purchase_currency, entries.c.booked_at >= bounds[-1], AFTER)
    return union_all(in_periods, after, _remaining(purchase_currency))  # type: ignore[return-value]


def _sums(purchase_currency: str, booked: Any, period: Any) -> Select[Any]:
    """Entry amounts of the currency's paid grants, by period, currency, cost basis and type.
    `period` is a column, or a constant that is no grouping key (GROUP BY -1 names a column)."""
    keys = [grants.c.currency, grants.c.cost_basis, entries.c.type]
    if isinstance(period, int):
        shown = literal_column(str(period), Integer()).label("period")
    else:
        shown = period.label("period")
        keys.insert(0, period)
    return (
        select(shown, grants.c.currency, grants.c.cost_basis, entries.c.type)
        .add_columns(func.sum(entries.c.amount).label("amount"))
        .select_from(entries.join(grants, grants.c.id == entries.c.grant_id))
        .where(booked, entries.c.funding_method != FundingMethod.NONE.value)
        .where(grants.c.purchase_currency == purchase_currency)
        .group_by(*keys)
    )


def _remaining(purchase_currency: str) -> Select[Any]:
    keys = (grants.c.currency, grants.c.cost_basis)
    return (
        select(
            literal_column(str(AFTER), Integer()).label("period"),
            *keys,
            literal_column(f"'{REMAINING}'").label("type"),
            func.sum(grants.c.remaining).label("amount"),
        )
        .where(grants.c.purchase_currency == purchase_currency, grants.c.remaining != 0)
        .group_by(*keys)
    )
