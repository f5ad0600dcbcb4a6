"""The contract's scalars: Decimal and DateTime as strings, Duration as ISO 8601 text.

A DateTime without an offset parses here (it becomes a validation issue naming its
field in the use case); a value that is no DateTime, Decimal or Duration at all fails
as a GraphQL input error.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.domain.time import Duration as DurationValue
from app.domain.time import format_duration, format_instant, parse_duration

Duration = NewType("Duration", object)
MAX_DECIMAL_TEXT = 64
MAX_EXPONENT = 100  # far beyond any amount (below 10^18) or price; keeps arithmetic cheap


def serialize_decimal(value: Decimal) -> str:
    return format(value, "f")


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError('a Decimal is a string such as "100.50"')
    if len(str(value)) > MAX_DECIMAL_TEXT:
        raise ValueError(f"a Decimal has at most {MAX_DECIMAL_TEXT} characters")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise ValueError(f"{value!r} is not a decimal number") from error
    if not parsed.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal number")
    if parsed and not -MAX_EXPONENT <= parsed.adjusted() <= MAX_EXPONENT:
        raise ValueError(f"{value!r} is out of range for a Decimal")
    return parsed


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError('a DateTime is an RFC 3339 string such as "2026-11-24T12:00:00Z"')
    try:
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
