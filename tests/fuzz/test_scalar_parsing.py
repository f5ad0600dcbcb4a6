"""Properties of the Decimal, DateTime and Duration inputs at the service boundary.

The API's scalars (app/api/scalars.py) turn wire values into Decimal, datetime and
durations; the domain (app/domain/money.py, app/domain/time.py) turns those into the
integers and instants it stores. Whatever arrives, a parser answers a value or a
ValueError (which strawberry reports as BAD_USER_INPUT), and what it accepts the domain
can use without another kind of exception.
"""

from __future__ import annotations

import contextlib
import decimal
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.scalars import (
    MAX_DECIMAL_TEXT,
    parse_datetime,
    parse_decimal,
    parse_duration_value,
    serialize_decimal,
)
from app.domain.money import (
    AMOUNT_LIMIT,
    Currency,
    amount_problem,
    cost_basis_problem,
    decimal_places,
    from_minor,
    normalized,
    to_minor,
)
from app.domain.time import add_duration, format_instant, parse_duration, utc_instant
from tests.conftest import examples

PROPERTY = settings(max_examples=examples(200))  # the rest from the profile (tests/conftest.py)
SCALES = st.integers(min_value=0, max_value=9)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def currency(scale: int) -> Currency:
    return Currency(code="TEST_UNITS", name="Test units", scale=scale, custom=True)


# ---- what the parsers are given: anything at all, and text that is nearly right

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=25)
NEAR_DECIMALS = st.builds(
    lambda sign, whole, point, fraction, exponent, pad: (
        f"{pad}{sign}{whole}{point}{fraction}{exponent}{pad}"
    ),
    st.sampled_from(["", "-", "+", "--"]),
    DIGITS | st.just(""),
    st.sampled_from(["", ".", ",", ".."]),
    DIGITS | st.just(""),
    st.sampled_from(["", "e", "E"]).flatmap(
        lambda e: st.just("") if not e else st.integers().map(lambda n: f"{e}{n}")
    ),
    st.sampled_from(["", " ", "\t", "\n"]),
) | st.sampled_from(["NaN", "-nan", "sNaN", "Infinity", "-inf", "1_000", "١٢", "0x10", "1e"])
NEAR_DATETIMES = st.builds(
    lambda date, separator, time, offset: f"{date}{separator}{time}{offset}",
    st.from_regex(r"\A[0-9+-]{0,6}-[0-9]{1,2}-[0-9]{1,2}\Z"),
    st.sampled_from(["T", "t", " ", "", "TT"]),
    st.from_regex(r"\A([0-9]{1,2}(:[0-9]{1,2}){0,2}([.,][0-9]{0,12})?)?\Z"),
    st.from_regex(r"\A(Z|z|[+-][0-9]{1,2}(:?[0-9]{2})?)?\Z"),
)
NEAR_DURATIONS = st.builds(
    lambda sign, parts, time_parts: f"{sign}P{parts}{time_parts}",
    st.sampled_from(["", "-", "+"]),
    st.from_regex(r"\A([0-9]{1,12}([.,][0-9]{1,4})?[YMWD]){0,4}\Z"),
    st.from_regex(r"\A(T([0-9]{1,15}([.,][0-9]{1,4})?[HMS]){0,3})?\Z"),
)
ANYTHING: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
    st.binary(),
    NEAR_DECIMALS,
    NEAR_DATETIMES,
    NEAR_DURATIONS,
    st.datetimes(),
    st.timedeltas(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)


@PROPERTY
@given(ANYTHING)
def test_the_scalar_parsers_answer_a_value_or_a_value_error(value: Any) -> None:
    for parse in (parse_decimal, parse_datetime, parse_duration_value):
        with contextlib.suppress(ValueError):
            parse(value)


@PROPERTY
@given(st.text() | NEAR_DURATIONS)
def test_parse_duration_answers_a_duration_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_duration(text)


@PROPERTY
@given(NEAR_DECIMALS | st.text(max_size=MAX_DECIMAL_TEXT), SCALES)
def test_a_parsed_decimal_is_judged_without_exceptions(text: str, scale: int) -> None:
    """Whatever parse_decimal lets through, the validation of amounts and cost bases judges."""
    try:
        value = parse_decimal(text)
    except ValueError:
        return
    assert value.is_finite()
    amount_problem(value, currency(scale))
    cost_basis_problem(value)
    decimal_places(value)


# ---- Decimal: exact both ways

CANONICAL_DECIMALS = st.builds(
    lambda sign, whole, fraction: f"{sign}{whole}{'.' + fraction if fraction else ''}",
    st.sampled_from(["", "-"]),
    st.just("0") | st.from_regex(r"\A[1-9][0-9]{0,30}\Z"),
    st.just("") | st.text(alphabet="0123456789", min_size=1, max_size=30),
)


@PROPERTY
@given(CANONICAL_DECIMALS)
def test_a_plain_decimal_text_round_trips_exactly(text: str) -> None:
    """ "100.50" stays "100.50": trailing zeros, places and sign survive the round trip."""
    assert serialize_decimal(parse_decimal(text)) == text


@PROPERTY
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_survives_its_wire_text(value: Decimal) -> None:
    text = serialize_decimal(value)
    if len(text) > MAX_DECIMAL_TEXT:  # too long to send back: refused, readably
        with pytest.raises(ValueError, match="at most"):
            parse_decimal(text)
        return
    parsed = parse_decimal(text)
    assert parsed == value
    assert serialize_decimal(parsed) == text


@PROPERTY
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_a_graphql_int_is_a_decimal_of_the_same_value(value: int) -> None:
    assert parse_decimal(value) == Decimal(value)


@PROPERTY
@given(INT64, SCALES)
def test_every_64_bit_minor_amount_round_trips_at_every_scale(minor: int, scale: int) -> None:
    value = from_minor(minor, scale)
    assert decimal_places(value) <= scale
    assert to_minor(value, scale) == minor


@PROPERTY
@given(st.integers(min_value=-(10**18), max_value=10**18), SCALES, SCALES)
def test_a_decimal_within_the_scale_converts_exactly(digits: int, places: int, scale: int) -> None:
    """Up to 18 significant digits (an amount below 10^18 smallest units has at most 18)."""
    value = Decimal(digits).scaleb(-places, decimal.Context(prec=100))
    if decimal_places(value) > scale:
        with pytest.raises(ValueError):
            to_minor(value, scale)
        return
    assert from_minor(to_minor(value, scale), scale) == value


@PROPERTY
@given(st.decimals(), SCALES)
def test_an_accepted_amount_converts_exactly_and_within_the_limit(
    value: Decimal, scale: int
) -> None:
    if amount_problem(value, currency(scale)) is not None:
        return
    minor = to_minor(value, scale)
    assert 0 < minor < AMOUNT_LIMIT
    assert from_minor(minor, scale) == value
    assert decimal_places(value) <= scale


@PROPERTY
@given(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-5_000, max_value=5_000),
    st.integers(min_value=1, max_value=20),
)
def test_equal_decimals_get_one_canonical_text(digits: int, exponent: int, zeros: int) -> None:
    """The fingerprint of a keyed request compares decimals by value: "1.50" as "1.5"."""
    value = Decimal(digits).scaleb(exponent, decimal.Context(prec=100))
    finer = Decimal((0, (1,), value.as_tuple().exponent - zeros))  # type: ignore[operator]
    padded = value.quantize(finer, context=decimal.Context(prec=200))  # "1.5" -> "1.500"
    assert padded == value
    assert normalized(padded) == normalized(value)
    assert Decimal(normalized(value)) == value


NOT_DECIMALS = (
    "١٢|1_000| 1 |1 |\t1|1\n|1e3|1E+2|1e1000000|+1|.5|5.|-||0x10|NaN|Infinity|1,5|--1|1.2.3"
)


@pytest.mark.parametrize("text", [*NOT_DECIMALS.split("|"), "12\u0000"])
def test_a_decimal_is_plain_ascii_digits_with_an_optional_sign_and_point(text: str) -> None:
    """Decimal() reads other scripts' digits, "_", spaces and exponents: the scalar does not."""
    with pytest.raises(ValueError, match="is not a decimal number"):
        parse_decimal(text)


@PROPERTY
@given(st.text(max_size=MAX_DECIMAL_TEXT))
def test_only_the_plain_decimal_form_parses(text: str) -> None:
    try:
        value = parse_decimal(text)
    except ValueError:
        return
    assert set(text) <= set("-.0123456789")
    assert value == Decimal(text)


@pytest.mark.parametrize(
    "text", ["2026-01-01T00:00:00Z\x00", "2026-01-01T00:00:00Z\n", "٢٠٢٦-01-01T00:00:00Z"]
)
def test_a_datetime_is_printable_ascii(text: str) -> None:
    with pytest.raises(ValueError, match="is not an RFC 3339 date-time"):
        parse_datetime(text)


def test_a_decimal_at_the_edge_of_the_range_has_a_canonical_text() -> None:
    assert normalized(Decimal("1e100")) == "1" + "0" * 100


# ---- DateTime: the same instant, or naive for the validation to flag


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> tuple[str, datetime]:
    """RFC 3339 text with an offset, and the aware datetime it names (to the microsecond)."""
    local = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    local = local.replace(microsecond=0)
    fraction = draw(st.just("") | st.text(alphabet="0123456789", min_size=1, max_size=9))
    minutes = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    zone = timezone(timedelta(minutes=minutes))
    if minutes == 0 and draw(st.booleans()):
        offset = "Z"
    else:
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    text = (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
        f"T{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    )
    if fraction:
        text += "." + fraction
        local = local.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return text + offset, local.replace(tzinfo=zone)


@PROPERTY
@given(rfc3339_texts())
def test_a_datetime_with_an_offset_parses_to_the_same_instant(case: tuple[str, datetime]) -> None:
    text, expected = case
    parsed = parse_datetime(text)
    assert parsed.utcoffset() == expected.utcoffset()
    assert parsed.replace(tzinfo=None) == expected.replace(tzinfo=None)
    try:
        instant = utc_instant(parsed)
    except ValueError:  # before year 1 or after 9999 in UTC: refused, readably
        return
    assert instant.tzinfo is UTC
    assert instant == expected
    assert parse_datetime(format_instant(instant)) == instant


@PROPERTY
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_a_datetime_without_an_offset_stays_naive(local: datetime) -> None:
    parsed = parse_datetime(local.isoformat())
    assert parsed == local
    assert parsed.tzinfo is None
    with pytest.raises(ValueError, match="offset"):
        utc_instant(parsed)


ANY_OFFSET: st.SearchStrategy[timezone | None] = st.one_of(
    st.none(),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
)


@PROPERTY
@given(
    st.builds(
        lambda local, zone: local.replace(tzinfo=zone),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
        ANY_OFFSET,
    )
)
def test_utc_instant_answers_an_instant_or_a_value_error(instant: datetime) -> None:
    with contextlib.suppress(ValueError):
        utc_instant(instant)


# ---- Duration: what parses moves any instant of 1900..2100


@st.composite
def iso_durations(draw: st.DrawFn, *, years: int, days: int, seconds: int) -> str:
    """ISO 8601 duration text whose parts stay within the given span."""
    parts = [
        ("Y", draw(st.integers(min_value=0, max_value=years))),
        ("M", draw(st.integers(min_value=0, max_value=years * 12))),
        ("W", draw(st.integers(min_value=0, max_value=days // 7))),
        ("D", draw(st.integers(min_value=0, max_value=days))),
    ]
    clock = [
        ("H", draw(st.integers(min_value=0, max_value=seconds // 3600))),
        ("M", draw(st.integers(min_value=0, max_value=seconds // 60))),
        ("S", draw(st.integers(min_value=0, max_value=seconds))),
    ]
    date = "".join(f"{n}{unit}" for unit, n in parts if draw(st.booleans()))
    time = "".join(f"{n}{unit}" for unit, n in clock if draw(st.booleans()))
    if not date and not time:
        date = "0D"
    return "P" + date + (f"T{time}" if time else "")


INSTANTS_1900_2100 = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2100, 12, 31, 23, 59, 59),
    timezones=st.just(UTC) | st.sampled_from([timezone(timedelta(hours=h)) for h in (-12, 5, 14)]),
)


@PROPERTY
@given(
    # Forward up to ~7,300 years in all: 2100 plus that is still before 9999.
    iso_durations(years=2_000, days=700_000, seconds=10**9).map(lambda text: (text, 1))
    # Backward up to ~1,800 years: 1900 minus that is still after year 1.
    | iso_durations(years=500, days=170_000, seconds=10**8).map(lambda text: ("-" + text, -1)),
    INSTANTS_1900_2100,
)
def test_a_duration_within_the_calendar_moves_any_instant_of_1900_to_2100(
    case: tuple[str, int], instant: datetime
) -> None:
    text, direction = case
    duration = parse_duration_value(text)
    moved = add_duration(instant, duration)
    assert moved.tzinfo is instant.tzinfo
    if direction > 0:
        assert moved >= instant
    else:
        assert moved <= instant


@pytest.mark.parametrize("text", ["P10000Y", "P100000000M", "P3000000D"])
def test_a_duration_beyond_the_calendar_is_refused_at_parsing(text: str) -> None:
    with pytest.raises(ValueError, match="out of the calendar's range"):
        parse_duration_value(text)
