"""Ledger entries and the running account of one customer's ledger in one currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.grants import FundingMethod, Grant

Labels = tuple[tuple[str, str], ...]


class EntryType(StrEnum):
    FUNDED = "FUNDED"
    CONSUMED = "CONSUMED"
    RESTORED = "RESTORED"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"


class ActorType(StrEnum):
    SYSTEM = "SYSTEM"
    API_KEY = "API_KEY"
    OPEN = "OPEN"


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None
    name: str


SYSTEM = Actor(ActorType.SYSTEM, None, "system")
OPEN = Actor(ActorType.OPEN, None, "open")


@dataclass(frozen=True)
class Entry:
    id: str
    customer_id: str
    currency: str
    sequence: int
    grant_id: str
    consumption_id: str | None
    type: EntryType
    amount: int
    balance_before: int
    balance_after: int
    booked_at: datetime
    created_at: datetime
    transaction_id: str
    actor: Actor
    funding_method: FundingMethod
    feature_key: str | None = None
    description: str | None = None
    labels: Labels = ()


@dataclass(frozen=True)
class Booking:
    """Who books, when, and under which transaction id."""

    transaction_id: str
    actor: Actor
    booked_at: datetime
    created_at: datetime


@dataclass
class Account:
    """Cached figures of one ledger; `credits verify` recomputes them from the entries."""

    customer_id: str
    currency: str
    sequence: int = 0
    available: int = 0
    available_promotional: int = 0
    funded: int = 0
    consumed: int = 0
    expired: int = 0
    voided: int = 0
    last_booked_at: datetime | None = None

    def append(
        self,
        *,
        entry_id: str,
        grant: Grant,
        type: EntryType,
        amount: int,
        booking: Booking,
        consumption_id: str | None = None,
        feature_key: str | None = None,
        description: str | None = None,
        labels: Labels = (),
    ) -> Entry:
        # The ledger is never backdated: booked_at never decreases along the sequence.
        booked_at = max(booking.booked_at, self.last_booked_at or booking.booked_at)
        before = self.available
        self.sequence += 1
        self.available += amount
        if grant.funding_method is FundingMethod.NONE:
            self.available_promotional += amount
        self._count(type, amount)
        self.last_booked_at = booked_at
        return Entry(
            id=entry_id,
            customer_id=self.customer_id,
            currency=self.currency,
            sequence=self.sequence,
            grant_id=grant.id,
            consumption_id=consumption_id,
            type=type,
            amount=amount,
            balance_before=before,
            balance_after=self.available,
            booked_at=booked_at,
            created_at=booking.created_at,
            transaction_id=booking.transaction_id,
            actor=booking.actor,
            funding_method=grant.funding_method,
            feature_key=feature_key,
            description=description,
            labels=labels,
        )

    def _count(self, type: EntryType, amount: int) -> None:
        if type is EntryType.FUNDED:
            self.funded += amount
        elif type is EntryType.CONSUMED or type is EntryType.RESTORED:
            self.consumed -= amount
        elif type is EntryType.EXPIRED:
            self.expired -= amount
        else:
            self.voided -= amount


def allocate(grants: list[Grant], amount: int) -> list[tuple[Grant, int]]:
    """Draw up to `amount` from grants already in burn order."""
    draws: list[tuple[Grant, int]] = []
    left = amount
    for grant in grants:
        if left == 0:
            break
        take = min(grant.remaining, left)
        if take > 0:
            draws.append((grant, take))
            left -= take
    return draws
