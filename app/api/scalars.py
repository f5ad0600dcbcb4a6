"""The contract's scalars: Decimal and DateTime as strings, Duration as ISO 8601 text.

A DateTime without an offset parses here (it becomes a validation issue naming its
field in the use case); a value that is no DateTime, Decimal or Duration at all fails
as a GraphQL input error. A Decimal is plain ASCII text, "-12.50": no exponent, spaces,
"_" or other scripts' digits, which Python's Decimal() would all accept.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.domain.money import parse_decimal_text
from app.domain.time import Duration as DurationValue
from app.domain.time import format_duration, format_instant, parse_duration

Duration = NewType("Duration", object)
MAX_DECIMAL_TEXT = 64  # far beyond any amount (below 10^18) or price; keeps arithmetic cheap


def serialize_decimal(value: Decimal) -> str:
    return format(value, "f")


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError('a Decimal is a string such as "100.50"')
    text = str(value)
    if len(text) > MAX_DECIMAL_TEXT:
        raise ValueError(f"a Decimal has at most {MAX_DECIMAL_TEXT} characters")
    return parse_decimal_text(text)


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError('a DateTime is an RFC 3339 string such as "2026-11-24T12:00:00Z"')
    try:
        if not (value.isascii() and value.isprintable()):  # fromisoformat skips a trailing NUL
            raise ValueError(value)
        return datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time") from error


def parse_duration_value(value: Any) -> DurationValue:
    if not isinstance(value, str):
        raise ValueError('a Duration is an ISO 8601 string such as "P30D"')
    return parse_duration(value)


SCALARS: dict[object, ScalarDefinition] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number, serialized as a string such as "100.50".',
        serialize=serialize_decimal,
        parse_value=parse_decimal,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description="An instant as an RFC 3339 string with an offset; "
        'the server always answers in UTC ("2026-11-24T12:00:00Z").',
        serialize=format_instant,
        parse_value=parse_datetime,
    ),
    Duration: strawberry.scalar(
        name="Duration",
        description='An ISO 8601 duration such as "P30D", "P1M" or "PT12H".',
        serialize=format_duration,
        parse_value=parse_duration_value,
    ),
}
