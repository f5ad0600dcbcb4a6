"""Expected failures as GraphQL types: each domain error maps to one type, here."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError

from app.domain import errors
from app.domain.time import utc_instant
from app.observability.requests import note_outcome


@strawberry.enum(description="What kind of expected failure an Error is.")
class ErrorCode(Enum):
    VALIDATION_FAILED = strawberry.enum_value(
        "VALIDATION_FAILED", description="The input has issues, each naming its field."
    )
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="An id names no object of its type the caller may see."
    )
    KEY_CONFLICT = strawberry.enum_value(
        "KEY_CONFLICT", description="The key was used before with a different input."
    )
    INSUFFICIENT_CREDITS = strawberry.enum_value(
        "INSUFFICIENT_CREDITS",
        description="The eligible credits fall short of the amount; nothing was consumed.",
    )
    INVALID_STATE = strawberry.enum_value(
        "INVALID_STATE",
        description="The grant or payment is in a state that does not allow the change.",
    )
    FORBIDDEN = strawberry.enum_value(
        "FORBIDDEN", description="The caller's role may not make this mutation."
    )


@strawberry.interface(description="An expected failure of a mutation, returned as data.")
class Error:
    code: ErrorCode = strawberry.field(description="What kind of failure this is.")
    message: str = strawberry.field(description="What went wrong, in English, for people.")


@strawberry.type(description="One problem with one field of a mutation's input.")
class ValidationIssue:
    field: list[str] = strawberry.field(
        description="Path of the offending input field, "
        'e.g. ["input", "purchase", "perUnitCostBasis"].'
    )
    message: str = strawberry.field(description="What is wrong with that field.")


@strawberry.type(
    description="The input is invalid; nothing was written. Every issue is listed at once."
)
class ValidationError(Error):
    issues: list[ValidationIssue] = strawberry.field(
        description="Each problem found, with the path of its field."
    )


@strawberry.type(
    description="A well-formed id names no object of the expected type; nothing was written."
)
class NotFoundError(Error):
    id: strawberry.ID | None = strawberry.field(description="The id that was not found.")


@strawberry.type(description="The key was used before with a different input; nothing was written.")
class KeyConflictError(Error):
    key: str = strawberry.field(description="The key that was already used.")


@strawberry.type(
    description="Under REJECT, the eligible credits fall short of the amount; nothing was consumed."
)
class InsufficientCreditsError(Error):
    currency: str = strawberry.field(description="The currency of the consumption.")
    requested: Decimal = strawberry.field(description="The amount asked for.")
    available: Decimal = strawberry.field(
        description="What the eligible grants held: the most that could be consumed."
    )


@strawberry.type(
    description="The object is in a state that does not allow the operation (voiding an "
    "expired grant, settling a promotional one, moving a settled payment back)."
)
class InvalidStateError(Error):
    current_state: str = strawberry.field(
        description="The grant's status for a void; the payment's settlement status, "
        "or NO_PAYMENT, for a settlement."
    )


@strawberry.type(description="The request's role may not make this mutation.")
class ForbiddenError(Error):
    pass


def to_graphql(error: errors.DomainError) -> Any:
    """The one mapping from the domain's error tree to the API's error types."""
    member = _member(error)
    note_outcome(member.code.value)  # the request's outcome, in its log line and metrics
    return member


def _member(error: errors.DomainError) -> Any:
    message = error.message
    if isinstance(error, errors.ValidationFailed):
        issues = [ValidationIssue(field=list(i.field), message=i.message) for i in error.issues]
        return ValidationError(code=ErrorCode.VALIDATION_FAILED, message=message, issues=issues)
    if isinstance(error, errors.NotFound):
        found_id = None if error.id is None else strawberry.ID(error.id)
        return NotFoundError(code=ErrorCode.NOT_FOUND, message=message, id=found_id)
    if isinstance(error, errors.KeyConflict):
        return KeyConflictError(code=ErrorCode.KEY_CONFLICT, message=message, key=error.key)
    if isinstance(error, errors.InsufficientCredits):
        return InsufficientCreditsError(
            code=ErrorCode.INSUFFICIENT_CREDITS,
            message=message,
            currency=error.currency,
            requested=error.requested,
            available=error.available,
        )
    if isinstance(error, errors.InvalidState):
        return InvalidStateError(
            code=ErrorCode.INVALID_STATE, message=message, current_state=error.current_state
        )
    assert isinstance(error, errors.Forbidden)
    return ForbiddenError(code=ErrorCode.FORBIDDEN, message=message)


def checked_instant(value: datetime, name: str) -> datetime:
    """A DateTime argument of a query, in UTC; BAD_USER_INPUT without an offset or out of range."""
    try:
        return utc_instant(value)
    except ValueError as error:
        raise bad_input(f"{name}: {error}") from error


def bad_input(message: str) -> GraphQLError:
    """A query argument the server cannot answer for: a GraphQL error, BAD_USER_INPUT."""
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})
