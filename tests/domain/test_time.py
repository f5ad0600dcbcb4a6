"""Durations with calendar arithmetic, instants and the frozen clock: DESIGN §3.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain.time import (
    FrozenClock,
    add_duration,
    as_utc,
    format_duration,
    format_instant,
    is_positive,
    parse_duration,
)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_p1m_from_january_31_ends_on_february_29_in_a_leap_year():
    assert add_duration(at(2024, 1, 31), parse_duration("P1M")) == at(2024, 2, 29)


def test_p1m_from_january_31_ends_on_february_28_in_a_common_year():
    assert add_duration(at(2023, 1, 31), parse_duration("P1M")) == at(2023, 2, 28)


def test_p1m_keeps_the_time_of_day_and_the_zone():
    result = add_duration(at(2024, 1, 31, 23, 30), parse_duration("P1M"))
    assert result == at(2024, 2, 29, 23, 30)
    assert result.tzinfo is UTC


def test_p1m_from_march_31_ends_on_april_30():
    assert add_duration(at(2025, 3, 31), parse_duration("P1M")) == at(2025, 4, 30)


def test_p1m_is_a_calendar_month_not_thirty_days():
    assert add_duration(at(2025, 2, 1), parse_duration("P1M")) == at(2025, 3, 1)
    assert add_duration(at(2025, 1, 1), parse_duration("P1M")) == at(2025, 2, 1)


def test_p1y_from_february_29_ends_on_february_28():
    assert add_duration(at(2024, 2, 29), parse_duration("P1Y")) == at(2025, 2, 28)


def test_p4y_from_february_29_ends_on_february_29():
    assert add_duration(at(2024, 2, 29), parse_duration("P4Y")) == at(2028, 2, 29)


def test_pt12h_is_twelve_hours_later():
    assert parse_duration("PT12H") == timedelta(hours=12)
    assert add_duration(at(2025, 3, 1, 12), parse_duration("PT12H")) == at(2025, 3, 2)


def test_p30d_is_thirty_days_whatever_the_month():
    assert parse_duration("P30D") == timedelta(days=30)
    assert add_duration(at(2025, 1, 31), parse_duration("P30D")) == at(2025, 3, 2)
    assert add_duration(at(2024, 1, 31), parse_duration("P30D")) == at(2024, 3, 1)


def test_a_combined_duration_adds_months_before_days():
    result = add_duration(at(2024, 1, 31), parse_duration("P1M1DT1H"))
    assert result == at(2024, 3, 1, 1)


@pytest.mark.parametrize("text", ["P1D", "PT1S", "P1M", "P1Y", "PT12H", "P30D", "P1W"])
def test_a_duration_that_moves_time_forward_is_positive(text):
    assert is_positive(parse_duration(text)) is True


@pytest.mark.parametrize("text", ["P0D", "PT0S", "P0M", "P0Y", "-P1D", "-PT1S", "-P1M", "-P1Y"])
def test_a_zero_or_negative_duration_is_not_positive(text):
    assert is_positive(parse_duration(text)) is False


@pytest.mark.parametrize(
    "text", ["garbage", "", "P", "1D", "P1X", "30 days", "D1P", "p1d ", "P1D1D", "PT1H1D"]
)
def test_parse_duration_rejects_what_is_no_iso_8601_duration(text):
    with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["PT", "P1DT"])
def test_parse_duration_rejects_a_time_designator_with_nothing_after_it(text):
    with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P1M", "P30D", "PT12H", "P1Y", "-P1D", "P1Y2M3DT4H5M6S"])
def test_a_duration_prints_as_the_iso_text_it_was_parsed_from(text):
    assert format_duration(parse_duration(text)) == text


def test_an_instant_prints_in_utc_with_a_z():
    assert format_instant(at(2025, 3, 1, 12)) == "2025-03-01T12:00:00Z"


def test_an_instant_with_an_offset_prints_as_the_same_instant_in_utc():
    plus_two = timezone(timedelta(hours=2))
    instant = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=plus_two)
    assert format_instant(instant) == "2025-03-01T10:00:00.123456Z"
    assert as_utc(instant) == datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert as_utc(instant).utcoffset() == timedelta(0)


def test_a_frozen_clock_moves_only_when_told():
    clock = FrozenClock(at(2025, 3, 1))
    assert clock.now() == at(2025, 3, 1)
    assert clock.now() == at(2025, 3, 1)
    clock.advance(timedelta(hours=36))
    assert clock.now() == at(2025, 3, 2, 12)
    clock.set(at(2030, 1, 1))
    assert clock.now() == at(2030, 1, 1)


@pytest.mark.parametrize("text", ["P0.5M", "P1.5Y"])
def test_a_duration_that_parses_can_be_added_to_an_instant(text):
    try:
        duration = parse_duration(text)
    except ValueError:
        return  # refusing it at parse time is fine too
    is_positive(duration)
    add_duration(at(2025, 1, 31), duration)
