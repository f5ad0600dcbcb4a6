"""Grant schedules: recurring allowances (docs/schedules.md). Pure state changes.

Occurrence n falls at `starts_at + n * every`, and its grant expires at
`starts_at + (n * every + expires_after)`: both counted from the start, so monthly from
Jan 31 gives Feb 28 or 29, then Mar 31 (no drift), and a grant that lasts `every`
expires exactly at the next occurrence (the February grant on Mar 31, not Mar 28).
`next_index` and `next_at` name the first occurrence not booked yet; `next_at` is None
once none is left (ended or canceled), so the index of due instants finds only
schedules with something to book.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import isodate

from app.domain.time import Duration, add_duration

MAX_ACTIVE = 20  # active schedules per customer
MAX_AT_ONCE = 1000  # occurrences one creation may book at once (a start far in the past)
SHORTEST = timedelta(days=1)
LONGEST = isodate.Duration(years=1)


class ScheduleStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"
    CANCELED = "CANCELED"


@dataclass(frozen=True)
class Occurrence:
    """One occurrence to book: its grant is effective at `at`, created and funded at
    `booked_at` (never before the schedule existed) and expires at `expires_at` (None:
    beyond year 9999, so never)."""

    index: int
    at: datetime
    booked_at: datetime
    expires_at: datetime | None


@dataclass
class Schedule:
    id: str
    customer_id: str
    currency: str
    amount: int
    every: Duration
    starts_at: datetime
    ends_at: datetime | None
    expires_after: Duration
    priority: int
    features: tuple[str, ...]
    created_at: datetime
    next_index: int = 0
    next_at: datetime | None = None
    canceled_at: datetime | None = None
    changed: bool = field(default=False, compare=False)

    def occurrence(self, n: int) -> datetime | None:
        """Occurrence n, or None when it is not before `ends_at` or beyond the calendar."""
        at = _shifted(self.starts_at, self.every, n)
        if at is None or (self.ends_at is not None and at >= self.ends_at):
            return None
        return at

    def expiry(self, n: int) -> datetime | None:
        """When the grant of occurrence n expires; None beyond the calendar."""
        try:
            return add_duration(self.starts_at, self.every * n + self.expires_after)
        except (OverflowError, ValueError):
            return None

    def status(self) -> ScheduleStatus:
        if self.canceled_at is not None:
            return ScheduleStatus.CANCELED
        return ScheduleStatus.ACTIVE if self.next_at is not None else ScheduleStatus.ENDED

    def start(self) -> int:
        """Position a new schedule on its first occurrence whose grant would not have
        expired by its creation (earlier ones create no grant); the number of
        occurrences due at creation."""
        created = self.created_at
        self.next_index = _first(lambda n: self._unexpired_at(n, created))
        self.next_at = self.occurrence(self.next_index)
        due_until = _first(lambda n: not self._due_by(n, created))
        return max(0, due_until - self.next_index)

    def take(self) -> Occurrence | None:
        """Book the next occurrence: what its grant is, and move on to the following one.
        None when that grant would already be expired (it then creates none)."""
        assert self.next_at is not None
        at, index = self.next_at, self.next_index
        self.next_index += 1
        self.next_at = self.occurrence(self.next_index)
        self.changed = True
        booked_at = max(at, self.created_at)
        expires_at = self.expiry(index)
        if expires_at is not None and expires_at <= booked_at:
            return None
        return Occurrence(index, at, booked_at, expires_at)

    def cancel(self, at: datetime) -> bool:
        """Stop future occurrences; False when it was canceled already (a replay)."""
        if self.canceled_at is not None:
            return False
        self.canceled_at = at
        self.next_at = None
        self.changed = True
        return True

    def _due_by(self, n: int, instant: datetime) -> bool:
        at = self.occurrence(n)
        return at is not None and at <= instant

    def _unexpired_at(self, n: int, instant: datetime) -> bool:
        if self.occurrence(n) is None:
            return True
        expires_at = self.expiry(n)
        return expires_at is None or expires_at > instant


def period_problems(starts_at: datetime, every: Duration, expires_after: Duration) -> list[str]:
    """What is wrong with `every` (first) and `expiresAfter` (second), measured from the
    start: `every` from P1D to P1Y, `expiresAfter` at least `every`."""
    step = _shifted(starts_at, every, 1)
    year = _shifted(starts_at, LONGEST, 1)
    every_problem = ""
    if step is None or step < starts_at + SHORTEST or (year is not None and step > year):
        every_problem = "must be at least P1D and at most P1Y"
    expiry = _shifted(starts_at, expires_after, 1)
    expiry_problem = ""
    if expiry is None:
        expiry_problem = "ends beyond the calendar's range"
    elif not every_problem and step is not None and expiry < step:
        expiry_problem = "must be at least `every`"
    return [every_problem, expiry_problem]


SCHEDULED_KEYS = "schedule:"  # grant keys no request may use: a schedule's would collide


def grant_key(schedule_id: str, index: int) -> str:
    return f"{SCHEDULED_KEYS}{schedule_id}:{index}"


def _shifted(instant: datetime, duration: Duration, times: int) -> datetime | None:
    try:
        return add_duration(instant, duration * times)
    except (OverflowError, ValueError):
        return None


def _first(holds: Callable[[int], bool]) -> int:
    """The smallest n >= 0 for which `holds` (false, then true from some n on) holds."""
    if holds(0):
        return 0
    low, high = 0, 1
    while not holds(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if holds(middle) else (middle, high)
    return high
