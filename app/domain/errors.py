"""The one tree of expected failures. The API maps each to one GraphQL error type."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

Path = tuple[str, ...]


class DomainError(Exception):
    """An expected failure: a member of a mutation's result union, never a crash."""

    message: str = "request failed"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.message
        super().__init__(self.message)


@dataclass(frozen=True)
class Issue:
    field: Path
    message: str


class ValidationFailed(DomainError):
    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        summary = "; ".join(f"{'.'.join(issue.field)}: {issue.message}" for issue in issues)
        super().__init__(f"Invalid input: {summary}")


class NotFound(DomainError):
    def __init__(self, what: str, id: str | None) -> None:
        self.id = id
        super().__init__(f"{what} {id} not found" if id else f"{what} not found")


class KeyConflict(DomainError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Key {key!r} was already used with a different input")


class InsufficientCredits(DomainError):
    def __init__(self, currency: str, requested: Decimal, available: Decimal) -> None:
        self.currency = currency
        self.requested = requested
        self.available = available
        super().__init__(
            f"Insufficient credits: requested {requested} {currency}, {available} available"
        )


class InvalidState(DomainError):
    def __init__(self, current_state: str, message: str) -> None:
        self.current_state = current_state
        super().__init__(message)


class Forbidden(DomainError):
    message = "Not allowed"


class Issues:
    """Collects every issue of an input so that validation reports them all at once."""

    def __init__(self) -> None:
        self.items: list[Issue] = []

    def add(self, field: Path, message: str) -> None:
        self.items.append(Issue(field, message))

    def has(self, field: Path) -> bool:
        return any(issue.field == field for issue in self.items)

    def raise_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)
