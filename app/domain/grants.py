"""Grants: status, funding, settlement moves, void, and the burn order. Pure state changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from app.domain.errors import InvalidState
from app.domain.money import sortable_decimal

PAYMENT_FAILED = "payment failed"
NO_PAYMENT = "NO_PAYMENT"


class FundingMethod(StrEnum):
    NONE = "NONE"
    INVOICE = "INVOICE"
    EXTERNAL = "EXTERNAL"


class AvailabilityPolicy(StrEnum):
    ON_CREATION = "ON_CREATION"
    ON_AUTHORIZATION = "ON_AUTHORIZATION"
    ON_SETTLEMENT = "ON_SETTLEMENT"


class SettlementStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    SETTLED = "SETTLED"
    FAILED = "FAILED"


class GrantStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    DEPLETED = "DEPLETED"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"


SETTLEMENT_MOVES = {
    SettlementStatus.PENDING: {
        SettlementStatus.AUTHORIZED,
        SettlementStatus.SETTLED,
        SettlementStatus.FAILED,
    },
    SettlementStatus.AUTHORIZED: {SettlementStatus.SETTLED, SettlementStatus.FAILED},
}


@dataclass
class Purchase:
    currency: str
    cost_basis: Decimal
    amount: int  # price in the purchase currency's smallest unit
    availability_policy: AvailabilityPolicy
    settlement_status: SettlementStatus
    payment_reference: str | None = None
    authorized_at: datetime | None = None
    settled_at: datetime | None = None
    failed_at: datetime | None = None

    def policy_met(self) -> bool:
        status = self.settlement_status
        if self.availability_policy is AvailabilityPolicy.ON_CREATION:
            return True
        if self.availability_policy is AvailabilityPolicy.ON_AUTHORIZATION:
            return status in (SettlementStatus.AUTHORIZED, SettlementStatus.SETTLED)
        return status is SettlementStatus.SETTLED

    def record_initial_status(self, at: datetime) -> None:
        """A payment already under way at creation: it was authorized or settled by now."""
        if self.settlement_status in (SettlementStatus.AUTHORIZED, SettlementStatus.SETTLED):
            self.authorized_at = at
        if self.settlement_status is SettlementStatus.SETTLED:
            self.settled_at = at

    def move(self, target: SettlementStatus, occurred_at: datetime) -> bool:
        """Apply a settlement move; False when it is a replay of the current status."""
        if target is self.settlement_status:
            return False
        if target not in SETTLEMENT_MOVES.get(self.settlement_status, set()):
            raise InvalidState(
                self.settlement_status.value,
                f"A {self.settlement_status.value} payment cannot become {target.value}",
            )
        self.settlement_status = target
        if target is SettlementStatus.FAILED:
            self.failed_at = occurred_at
            return True
        self.authorized_at = self.authorized_at or occurred_at
        if target is SettlementStatus.SETTLED:
            self.settled_at = occurred_at
        return True


@dataclass
class Grant:
    id: str
    customer_id: str
    currency: str
    amount: int
    funding_method: FundingMethod
    priority: int
    features: tuple[str, ...]
    effective_at: datetime
    expires_at: datetime | None
    created_at: datetime
    purchase: Purchase | None = None
    fundable_at: datetime | None = None
    funded_at: datetime | None = None
    expiry_booked: bool = False
    voided_at: datetime | None = None
    void_reason: str | None = None
    remaining: int = 0
    consumed: int = 0
    expired: int = 0
    voided: int = 0
    changed: bool = field(default=False, compare=False)

    # ---- derived state

    def status(self, at: datetime) -> GrantStatus:
        if self.voided_at is not None and self.voided_at <= at:
            return GrantStatus.VOIDED
        funded = self.funded_at is not None and self.funded_at <= at
        if self.expires_at is not None and self.expires_at <= at:
            forfeited = self.expired > 0 or (not self.expiry_booked and self.remaining > 0)
            return GrantStatus.DEPLETED if funded and not forfeited else GrantStatus.EXPIRED
        if not funded:
            return GrantStatus.PENDING
        return GrantStatus.ACTIVE if self.remaining > 0 else GrantStatus.DEPLETED

    def pending_at(self, at: datetime) -> bool:
        """Whether its amount counts as pending at `at`: created by then, and not funded,
        voided or expired by then (`pending` in docs/concepts.md, "Balances")."""
        return self.created_at <= at and not any(
            instant is not None and instant <= at
            for instant in (self.funded_at, self.voided_at, self.expires_at)
        )

    @property
    def restricted(self) -> bool:
        return bool(self.features)

    @property
    def cost_basis(self) -> Decimal:
        return self.purchase.cost_basis if self.purchase else Decimal(0)

    def can_pay_for(self, feature_key: str | None) -> bool:
        return not self.features or (feature_key is not None and feature_key in self.features)

    def funding_instant(self) -> datetime | None:
        """When it is (or will be) funded, or None if it never will be as things stand."""
        if self.voided_at is not None or self.fundable_at is None:
            return self.funded_at
        instant = self.funded_at or max(self.effective_at, self.fundable_at)
        if self.expires_at is not None and self.expires_at <= instant:
            return None
        return instant

    def next_event_at(self) -> datetime | None:
        """The instant of its next time-driven event (funding, then expiry), if any."""
        if self.voided_at is not None or self.expiry_booked:
            return None
        if self.funded_at is None:
            instant = self.funding_instant()
            if instant is not None:
                return instant
        return self.expires_at

    def burn_key(self) -> str:
        """Fixed-width text whose order is the burn order (docs/concepts.md)."""
        expiry = stamp(self.expires_at) if self.expires_at else "9" * 20
        return "|".join(
            [
                f"{self.priority:04d}",
                "0" if self.restricted else "1",
                expiry,
                sortable_decimal(self.cost_basis),
                stamp(self.effective_at),
                stamp(self.created_at),
                self.id,
            ]
        )

    # ---- movements; each returns the signed amount of the entry to book

    def fund(self, at: datetime) -> int:
        self.funded_at = at
        self.remaining = self.amount
        return self.amount

    def consume(self, amount: int) -> int:
        assert 0 < amount <= self.remaining
        self.remaining -= amount
        self.consumed += amount
        return -amount

    def restore(self, amount: int) -> int:
        self.remaining += amount
        self.consumed -= amount
        return amount

    def forfeit_restored(self, amount: int, at: datetime) -> GrantStatus | None:
        """Credits restored to a grant voided or expired since are forfeited at once."""
        if self.voided_at is not None:
            self.voided += amount
        elif self.expires_at is not None and self.expires_at <= at:
            self.expired += amount
        else:
            return None
        self.remaining -= amount
        return GrantStatus.VOIDED if self.voided_at is not None else GrantStatus.EXPIRED

    def expire(self) -> int:
        self.expiry_booked = True
        taken, self.remaining = self.remaining, 0
        self.expired += taken
        return -taken

    def void(self, at: datetime, reason: str | None) -> int:
        self.voided_at = at
        self.void_reason = reason
        taken, self.remaining = self.remaining, 0
        self.voided += taken
        return -taken

    def check_voidable(self, at: datetime) -> bool:
        """True to void, False for a replay of a void; raises when it cannot be voided."""
        status = self.status(at)
        if status is GrantStatus.VOIDED:
            return False
        if status in (GrantStatus.DEPLETED, GrantStatus.EXPIRED):
            raise InvalidState(status.value, f"A {status.value} grant cannot be voided")
        return True

    def become_fundable(self, at: datetime) -> None:
        """Called after a creation or a payment move: the policy may now be met."""
        if self.fundable_at is not None or self.funded_at is not None:
            return
        if self.purchase is not None and not self.purchase.policy_met():
            return
        if self.status(at) is GrantStatus.PENDING:
            self.fundable_at = at


def stamp(instant: datetime) -> str:
    """Fixed-width UTC digits: their order is the order of the instants.

    strftime's %Y does not pad (year 999 is "999"), so the year is padded here.
    """
    utc = instant.astimezone(UTC)
    return f"{utc.year:04d}{utc:%m%d%H%M%S%f}"
