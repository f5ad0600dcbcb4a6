"""Ledger entries and the running account of one customer's ledger in one currency.

Every entry carries its ledger's running figures after it (`Entry.after`), and each entry
of a restricted grant moves the running figures of that grant's scopes (`scopes_of`):
so a balance as of any entry is one row, however long the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.balances import Balance
from app.domain.grants import FundingMethod, Grant
from app.domain.hashing import GENESIS, link

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


RESTRICTED = "*"  # the scope of every restricted grant; features are lowercase words


def scopes_of(grant: Grant) -> tuple[str, ...]:
    """The scopes whose running figures an entry of this grant moves: none if unrestricted."""
    return (RESTRICTED, *grant.features) if grant.restricted else ()


@dataclass(frozen=True)
class Figures:
    """Running figures of a ledger, or of one scope of its grants, after an entry."""

    available: int = 0
    funded: int = 0
    consumed: int = 0
    expired: int = 0
    voided: int = 0
    promotional: int = 0

    def after(self, type: EntryType, amount: int, promotional: bool) -> Figures:
        kind = {EntryType.RESTORED: EntryType.CONSUMED}.get(type, type)
        return Figures(
            available=self.available + amount,
            funded=self.funded + (amount if kind is EntryType.FUNDED else 0),
            consumed=self.consumed - (amount if kind is EntryType.CONSUMED else 0),
            expired=self.expired - (amount if kind is EntryType.EXPIRED else 0),
            voided=self.voided - (amount if kind is EntryType.VOIDED else 0),
            promotional=self.promotional + (amount if promotional else 0),
        )

    def plus(self, other: Figures) -> Figures:
        return Figures(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def minus(self, other: Figures) -> Figures:
        return Figures(*(a - b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[int, ...]:
        return (
            self.available,
            self.funded,
            self.consumed,
            self.expired,
            self.voided,
            self.promotional,
        )


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
    after: Figures  # the ledger's running figures after this entry
    booked_at: datetime
    created_at: datetime
    transaction_id: str
    actor: Actor
    funding_method: FundingMethod
    feature_key: str | None = None
    description: str | None = None
    labels: Labels = ()
    hash: str = GENESIS  # over the previous entry's hash and this one's fields (§17)


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
    last_hash: str = GENESIS  # the hash of the ledger's last entry
    thresholds: int = 0  # undeleted thresholds watching this ledger
    threshold_sequence: int = 0  # the sequence of its last threshold event

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
        after = self.figures().after(type, amount, grant.funding_method is FundingMethod.NONE)
        self.sequence += 1
        self._set(after)
        self.last_booked_at = booked_at
        self.last_hash = link(
            self.last_hash,
            {
                "id": entry_id,
                "transaction_id": booking.transaction_id,
                "customer_id": self.customer_id,
                "currency": self.currency,
                "sequence": self.sequence,
                "type": type.value,
                "amount": amount,
                "balance_before": before,
                "balance_after": self.available,
                "grant_id": grant.id,
                "consumption_id": consumption_id,
                "actor_type": booking.actor.type.value,
                "actor_name": booking.actor.name,
                "booked_at": booked_at,
                "feature_key": feature_key,
                "description": description,
            },
        )
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
            after=after,
            booked_at=booked_at,
            created_at=booking.created_at,
            transaction_id=booking.transaction_id,
            actor=booking.actor,
            funding_method=grant.funding_method,
            feature_key=feature_key,
            description=description,
            labels=labels,
            hash=self.last_hash,
        )

    def balance(self, at: datetime, pending: int) -> Balance:
        """Its balance at `at`, an instant no earlier than its last entry's bookedAt (so its
        figures are the ledger's there), given the pending amount then."""
        return Balance(
            customer_id=self.customer_id,
            currency=self.currency,
            at=at,
            feature_key=None,
            available=self.available,
            pending=pending,
            funded=self.funded,
            consumed=self.consumed,
            expired=self.expired,
            voided=self.voided,
            available_promotional=self.available_promotional,
            sequence=self.sequence,
        )

    def figures(self) -> Figures:
        return Figures(
            self.available,
            self.funded,
            self.consumed,
            self.expired,
            self.voided,
            self.available_promotional,
        )

    def _set(self, figures: Figures) -> None:
        self.available, self.funded, self.consumed = figures.values()[:3]
        self.expired, self.voided, self.available_promotional = figures.values()[3:]


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
