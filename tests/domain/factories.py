"""Small builders of domain objects for the domain tests: every field has a plain default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.grants import (
    AvailabilityPolicy,
    FundingMethod,
    Grant,
    Purchase,
    SettlementStatus,
)
from app.domain.ledger import SYSTEM, Booking
from app.domain.money import Currency

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

USD = Currency("USD", "US Dollar", 2, False)
JPY = Currency("JPY", "Yen", 0, False)
BHD = Currency("BHD", "Bahraini Dinar", 3, False)
TOKENS = Currency("TOKENS", "Tokens", 9, True)


def purchase(
    *,
    policy: AvailabilityPolicy = AvailabilityPolicy.ON_CREATION,
    status: SettlementStatus = SettlementStatus.PENDING,
    cost_basis: str = "1",
) -> Purchase:
    return Purchase(
        currency="USD",
        cost_basis=Decimal(cost_basis),
        amount=0,
        availability_policy=policy,
        settlement_status=status,
    )


def grant(
    id: str = "grt_a",
    *,
    amount: int = 1000,
    priority: int = 10,
    features: tuple[str, ...] = (),
    effective_at: datetime = T0,
    expires_at: datetime | None = None,
    created_at: datetime = T0,
    paid: Purchase | None = None,
) -> Grant:
    return Grant(
        id=id,
        customer_id="cus_1",
        currency="USD",
        amount=amount,
        funding_method=FundingMethod.INVOICE if paid else FundingMethod.NONE,
        priority=priority,
        features=features,
        effective_at=effective_at,
        expires_at=expires_at,
        created_at=created_at,
        purchase=paid,
    )


def funded(made: Grant, at: datetime = T0) -> Grant:
    """The grant, fundable and funded at `at`, with its whole amount remaining."""
    made.fundable_at = at
    made.fund(at)
    return made


def booking(at: datetime, transaction_id: str = "txn_1") -> Booking:
    return Booking(transaction_id=transaction_id, actor=SYSTEM, booked_at=at, created_at=at)
