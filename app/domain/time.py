"""Instants and durations. Every instant is timezone-aware UTC; the clock is injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeAlias

import isodate

Duration: TypeAlias = "timedelta | isodate.Duration"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told: tests move time without sleeping."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta

    def set(self, instant: datetime) -> None:
        self.current = instant


def parse_duration(text: str) -> Duration:
    """ISO 8601 duration ("P30D", "P1M", "PT12H"); raises ValueError."""
    try:
        if text.endswith("T"):
            raise ValueError("nothing follows T")
        parsed: Duration = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError, OverflowError) as error:
        raise ValueError(f"{text!r} is not an ISO 8601 duration") from error
    if isinstance(parsed, isodate.Duration) and (parsed.years % 1 or parsed.months % 1):
        raise ValueError(f"{text!r}: years and months must be whole numbers")
    for anchor in CALENDAR_SPAN:  # usable from any instant a ledger may hold
        try:
            add_duration(anchor, parsed)
        except (OverflowError, ValueError) as error:
            raise ValueError(f"{text!r} is out of the calendar's range") from error
    return parsed


CALENDAR_SPAN = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 12, 31, tzinfo=UTC))


def format_duration(duration: Duration) -> str:
    return str(isodate.duration_isoformat(duration))


def add_duration(instant: datetime, duration: Duration) -> datetime:
    """Calendar arithmetic: P1M from Jan 31 is the last day of February."""
    result = instant + duration
    assert isinstance(result, datetime)
    return result


def is_positive(duration: Duration) -> bool:
    anchor = datetime(2000, 1, 1, tzinfo=UTC)
    return add_duration(anchor, duration) > anchor


def as_utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def utc_instant(instant: datetime) -> datetime:
    """The same instant in UTC; ValueError for a naive or unrepresentable one."""
    if instant.utcoffset() is None:
        raise ValueError("an instant needs a timezone offset")
    try:
        return instant.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("the instant is out of range") from error


def format_instant(instant: datetime) -> str:
    return as_utc(instant).isoformat().replace("+00:00", "Z")
