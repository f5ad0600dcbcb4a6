"""creditRevenue (docs/revenue.md): recognized, breakage and deferred revenue of paid credits.

The SQL sums the ledger's amounts per period, credit currency, cost basis and entry type
(`app.storage.queries.revenue`); here each sum is valued at its cost basis, exactly, and
each figure rounded once. Reports cover the past only (`to` at most now), so a report
asked for twice is the same: every time-driven entry due before `to` is booked first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from app.domain.errors import Issues
from app.domain.ledger import EntryType
from app.domain.money import WIDE, Currency
from app.domain.revenue import MAX_PERIODS, RevenueInterval, period_bounds, rounded, value
from app.domain.time import utc_instant
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.storage.engine import read_connection
from app.storage.queries.revenue import (
    AFTER,
    BEFORE,
    REMAINING,
    Anchor,
    RevenueSum,
    first_booked_at,
    read_revenue_sums,
)

RECOGNIZED = (EntryType.CONSUMED.value, EntryType.RESTORED.value)
BREAKAGE = (EntryType.EXPIRED.value, EntryType.VOIDED.value)


@dataclass(frozen=True)
class RevenuePeriod:
    starts: datetime
    ends: datetime
    recognized: Decimal
    breakage: Decimal
    deferred_at_end: Decimal


@dataclass(frozen=True)
class RevenueReport:
    currency: str
    periods: list[RevenuePeriod]


async def credit_revenue(
    runtime: Runtime,
    *,
    currency: str,
    starts: datetime,
    ends: datetime,
    interval: RevenueInterval,
) -> RevenueReport:
    """Periods of [starts, ends) in UTC; raises ValidationFailed naming the bad argument."""
    now = runtime.clock.now()
    purchase_currency, bounds = _validated(runtime, currency, starts, ends, interval, now)
    # Company-wide, so any customer's unbooked expiry before `to` may be breakage in it:
    # book each customer with an event due by `to` (docs/decisions.md, Revenue). One due
    # later cannot change the figures: neither the entries before `to` nor a grant's
    # remaining less the entries since `to` change when it is booked.
    await book_due_events(runtime, by=bounds[-1])
    async with read_connection(runtime.engine) as connection:
        anchor = _cheaper_anchor(await first_booked_at(connection), bounds, now)
        sums = await read_revenue_sums(connection, purchase_currency.code, bounds, interval, anchor)
    found = await runtime.catalog.get_many({s.currency for s in sums})
    scales = {code: c.scale for code, c in found.items()}
    periods = _periods(sums, bounds, scales, purchase_currency.scale, anchor)
    return RevenueReport(purchase_currency.code, periods)


def _validated(
    runtime: Runtime,
    code: str,
    starts: datetime,
    ends: datetime,
    interval: RevenueInterval,
    now: datetime,
) -> tuple[Currency, list[datetime]]:
    """The purchase currency and the period bounds in UTC; every issue at once."""
    issues = Issues()
    purchase_currency = runtime.catalog.iso.get(code)
    if purchase_currency is None:
        issues.add(
            ("currency",), f"{code!r} is not an ISO 4217 currency (purchases are paid in one)"
        )
    first, last = _instant(issues, "from", starts), _instant(issues, "to", ends)
    bounds: list[datetime] | None = []
    if first is not None and last is not None:
        if last <= first:
            issues.add(("to",), "must be after from")
        elif last > now:
            issues.add(("to",), "must not be in the future: a report covers the past only")
        else:  # a range in the past: no calendar overflow
            bounds = period_bounds(first, last, interval)
    if bounds is None:
        issues.add(("interval",), f"gives more than {MAX_PERIODS} periods from {first} to {last}")
    issues.raise_any()
    assert purchase_currency is not None and bounds
    return purchase_currency, bounds


def _instant(issues: Issues, name: str, value: datetime) -> datetime | None:
    try:
        return utc_instant(value)
    except ValueError as error:
        issues.add((name,), str(error))
        return None


def _cheaper_anchor(first: datetime | None, bounds: Sequence[datetime], now: datetime) -> Anchor:
    """Sum the entries before the report, or take what remains now less the entries since:
    whichever spans less time of the ledger."""
    if first is None or bounds[0] - first <= now - bounds[-1]:
        return Anchor.LEDGER
    return Anchor.GRANTS


def _periods(
    sums: list[RevenueSum],
    bounds: Sequence[datetime],
    scales: dict[str, int],
    scale: int,
    anchor: Anchor,
) -> list[RevenuePeriod]:
    with localcontext(prec=WIDE):  # exact: no sum of values is ever rounded
        recognized, breakage, moved, opening = _valued(sums, len(bounds) - 1, scales)
        if anchor is Anchor.GRANTS:  # what remained at the start: now's less all since
            opening -= sum(moved, Decimal(0))
        periods = []
        deferred = opening
        for i, change in enumerate(moved):
            deferred += change
            figures = (rounded(x, scale) for x in (recognized[i], breakage[i], deferred))
            periods.append(RevenuePeriod(bounds[i], bounds[i + 1], *figures))
    return periods


def _valued(
    sums: list[RevenueSum], count: int, scales: dict[str, int]
) -> tuple[list[Decimal], list[Decimal], list[Decimal], Decimal]:
    """Per period: recognized, breakage and the change of deferred; and the opening sum
    (entries before the report, or the remaining now less the entries after it)."""
    recognized, breakage, moved = ([Decimal(0)] * count for _ in range(3))
    opening = Decimal(0)
    for row in sums:
        worth = value(row.amount, scales[row.currency], Decimal(row.cost_basis))
        if row.period >= 0:
            moved[row.period] += worth
            if row.type in RECOGNIZED:
                recognized[row.period] -= worth
            elif row.type in BREAKAGE:
                breakage[row.period] -= worth
        elif row.period == BEFORE or row.type == REMAINING:
            opening += worth
        else:
            assert row.period == AFTER
            opening -= worth
    return recognized, breakage, moved, opening
