"""Occurrences of a grant schedule: counted from the start, calendar months, carry-over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.schedules import Occurrence, Schedule, ScheduleStatus, period_problems
from app.domain.time import Duration, parse_duration


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def schedule(
    starts_at: datetime,
    every: str = "P1M",
    created_at: datetime | None = None,
    expires_after: str | None = None,
    ends_at: datetime | None = None,
) -> Schedule:
    period: Duration = parse_duration(every)
    return Schedule(
        id="sch_1",
        customer_id="cus_1",
        currency="USD",
        amount=1000,
        every=period,
        starts_at=starts_at,
        ends_at=ends_at,
        expires_after=parse_duration(expires_after) if expires_after else period,
        priority=10,
        features=(),
        created_at=created_at or starts_at,
    )


def test_monthly_from_jan_31_takes_the_last_day_of_shorter_months_and_never_drifts() -> None:
    monthly = schedule(at(2024, 1, 31, 9))

    assert [monthly.occurrence(n) for n in range(6)] == [
        at(2024, 1, 31, 9),
        at(2024, 2, 29, 9),
        at(2024, 3, 31, 9),
        at(2024, 4, 30, 9),
        at(2024, 5, 31, 9),
        at(2024, 6, 30, 9),
    ]
    assert monthly.occurrence(13) == at(2025, 2, 28, 9)


def test_a_start_a_year_ago_has_twelve_occurrences_due_whose_grants_have_not_expired() -> None:
    now = at(2026, 1, 15, 12)
    yearly_grants = schedule(now - timedelta(days=365) + timedelta(hours=1), expires_after="P1Y")

    yearly_grants.created_at = now
    assert yearly_grants.start() == 12
    assert (yearly_grants.next_index, yearly_grants.next_at) == (0, at(2025, 1, 15, 13))


def test_occurrences_whose_grant_would_have_expired_before_creation_are_skipped() -> None:
    now = at(2026, 1, 15, 12)
    monthly = schedule(at(2025, 1, 15, 13), created_at=now)  # each grant lasts one month

    assert monthly.start() == 1
    assert (monthly.next_index, monthly.next_at) == (11, at(2025, 12, 15, 13))
    assert monthly.take() == Occurrence(11, at(2025, 12, 15, 13), now, at(2026, 1, 15, 13))
    assert (monthly.next_index, monthly.next_at) == (12, at(2026, 1, 15, 13))


def test_a_daily_schedule_from_year_one_starts_at_once_on_its_last_occurrence() -> None:
    daily = schedule(at(1, 1, 1), every="P1D", created_at=at(2026, 1, 15, 12))

    assert daily.start() == 1
    assert daily.next_at == at(2026, 1, 15)


def test_an_occurrence_grant_is_booked_at_its_occurrence_once_the_schedule_exists() -> None:
    monthly = schedule(at(2026, 2, 1), created_at=at(2026, 1, 15), expires_after="P2M")
    assert monthly.start() == 0

    assert monthly.take() == Occurrence(0, at(2026, 2, 1), at(2026, 2, 1), at(2026, 4, 1))
    assert monthly.next_at == at(2026, 3, 1)


def test_a_schedule_ends_with_its_last_occurrence_before_ends_at() -> None:
    weekly = schedule(at(2026, 1, 1), every="P7D", ends_at=at(2026, 1, 15))
    weekly.start()

    taken = [weekly.take(), weekly.take()]

    assert [o.at for o in taken if o] == [at(2026, 1, 1), at(2026, 1, 8)]
    assert (weekly.next_at, weekly.status()) == (None, ScheduleStatus.ENDED)


def test_cancel_stops_occurrences_and_a_second_cancel_is_a_replay() -> None:
    monthly = schedule(at(2026, 1, 1))
    monthly.start()

    assert monthly.cancel(at(2026, 1, 2)) is True
    assert monthly.cancel(at(2026, 1, 3)) is False
    assert (monthly.status(), monthly.next_at, monthly.canceled_at) == (
        ScheduleStatus.CANCELED,
        None,
        at(2026, 1, 2),
    )


def test_every_is_one_day_to_one_year_and_expires_after_at_least_every() -> None:
    def problems(every: str, expires_after: str) -> list[str]:
        return period_problems(
            at(2026, 1, 31), parse_duration(every), parse_duration(expires_after)
        )

    bounds = "must be at least P1D and at most P1Y"
    assert problems("P1D", "P1D") == ["", ""]
    assert problems("PT24H", "P1M") == ["", ""]
    assert problems("P1Y", "P1Y") == ["", ""]
    assert problems("P12M", "P2Y") == ["", ""]
    assert problems("PT23H", "P1D") == [bounds, ""]
    assert problems("P1Y1D", "P2Y") == [bounds, ""]
    assert problems("-P1M", "P1M") == [bounds, ""]
    assert problems("P1M", "P27D") == ["", "must be at least `every`"]
    assert problems("P1M", "P28D") == ["", ""]  # Jan 31 + P1M is Feb 28


def test_each_grant_expires_counted_from_the_start_so_none_leaves_a_gap() -> None:
    def expiries(expires_after: str) -> list[tuple[datetime, datetime | None]]:
        monthly = schedule(at(2026, 1, 31), created_at=at(2026, 1, 15), expires_after=expires_after)
        monthly.start()
        taken = [monthly.take() for _ in range(3)]
        return [(o.at, o.expires_at) for o in taken if o is not None]

    assert expiries("P1M") == [
        (at(2026, 1, 31), at(2026, 2, 28)),
        (at(2026, 2, 28), at(2026, 3, 31)),  # not Mar 28
        (at(2026, 3, 31), at(2026, 4, 30)),
    ]
    assert expiries("P2M") == [  # carried over for one more month
        (at(2026, 1, 31), at(2026, 3, 31)),
        (at(2026, 2, 28), at(2026, 4, 30)),
        (at(2026, 3, 31), at(2026, 5, 31)),
    ]


def test_a_grant_whose_expiry_would_pass_year_9999_never_expires() -> None:
    late = schedule(at(9990, 1, 1), every="P1Y", expires_after="P9Y")
    late.start()

    taken = [late.take() for _ in range(2)]

    assert [(o.at, o.expires_at) for o in taken if o] == [
        (at(9990, 1, 1), at(9999, 1, 1)),
        (at(9991, 1, 1), None),
    ]
