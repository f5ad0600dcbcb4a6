"""Revenue of paid credits (docs/revenue.md): its periods and its exact valuation.

Periods are UTC calendar days, ISO weeks (from Monday) or calendar months, the first and
the last cut at the request's bounds. A figure is the exact sum of credit amounts times
their grants' cost basis, rounded half to even to the purchase currency's scale once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum

from app.domain.money import WIDE, from_minor

MAX_PERIODS = 366


class RevenueInterval(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


def period_bounds(
    starts: datetime, ends: datetime, interval: RevenueInterval, limit: int = MAX_PERIODS
) -> list[datetime] | None:
    """[starts, b1, …, ends]: period i is [bounds[i], bounds[i + 1]). None for more than
    `limit` periods (found without listing them all)."""
    bounds = [starts]
    while bounds[-1] < ends:
        if len(bounds) > limit:
            return None
        bounds.append(min(next_boundary(bounds[-1], interval), ends))
    return bounds


def period_start(instant: datetime, interval: RevenueInterval) -> datetime:
    """The start of the UTC day, ISO week (Monday) or month holding `instant`."""
    day = datetime(instant.year, instant.month, instant.day, tzinfo=UTC)
    if interval is RevenueInterval.DAY:
        return day
    if interval is RevenueInterval.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_boundary(instant: datetime, interval: RevenueInterval) -> datetime:
    """The first period start after `instant`."""
    start = period_start(instant, interval)
    if interval is RevenueInterval.DAY:
        return start + timedelta(days=1)
    if interval is RevenueInterval.WEEK:
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def value(amount: int, scale: int, cost_basis: Decimal) -> Decimal:
    """Credits (in the smallest unit of a currency of `scale`) at a cost basis, exactly."""
    with localcontext(prec=WIDE):
        return from_minor(amount, scale) * cost_basis


def rounded(exact: Decimal, scale: int) -> Decimal:
    """The one rounding of a figure: half to even, to the purchase currency's scale."""
    with localcontext(prec=WIDE):
        result = exact.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)
    return result.copy_abs() if result.is_zero() else result  # never "-0.00"
