"""The inputs of the mutations, as the contract names them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from app.api.common import LabelInput
from app.api.grants import CreditAvailabilityPolicy, CreditFundingMethod, CreditSettlementStatus
from app.api.scalars import Duration


@strawberry.input
class PurchaseTermsInput:
    currency: str | None = strawberry.field(
        default=None,
        description="Defaults to the credit currency. For a custom credit unit it is required.",
    )
    per_unit_cost_basis: Decimal | None = Decimal(1)
    availability_policy: CreditAvailabilityPolicy | None = CreditAvailabilityPolicy.ON_CREATION
    settlement_status: CreditSettlementStatus | None = strawberry.field(
        default=CreditSettlementStatus.PENDING,
        description="The payment state at creation, for payments already under way or done.",
    )
    payment_reference: str | None = None


@strawberry.input
class PurchaseCreditsInput:
    customer_id: strawberry.ID
    key: str | None = strawberry.field(
        default=None,
        description="Unique per customer. Repeating a request with the same key and input "
        "answers with the first result; with a different input it is a KeyConflictError.",
    )
    name: str
    description: str | None = None
    labels: list[LabelInput] | None = None
    currency: str
    amount: Decimal
    funding_method: CreditFundingMethod = strawberry.field(
        description="INVOICE or EXTERNAL; NONE is a validation error here "
        "(use grantPromotionalCredits)."
    )
    purchase: PurchaseTermsInput | None = None
    priority: int | None = 10
    features: list[str] | None = None
    effective_at: datetime | None = strawberry.field(
        default=None, description="Defaults to now. May be in the past or the future."
    )
    expires_after: Duration | None = strawberry.field(
        default=None,
        description="Expiry measured from effectiveAt. At most one of expiresAfter and expiresAt.",
    )
    expires_at: datetime | None = None


@strawberry.input
class GrantPromotionalCreditsInput:
    customer_id: strawberry.ID
    key: str | None = None
    name: str
    description: str | None = None
    labels: list[LabelInput] | None = None
    currency: str
    amount: Decimal
    priority: int | None = 10
    features: list[str] | None = None
    effective_at: datetime | None = None
    expires_after: Duration | None = None
    expires_at: datetime | None = None


@strawberry.input
class SettleCreditPurchaseInput:
    grant_id: strawberry.ID
    status: CreditSettlementStatus = strawberry.field(description="AUTHORIZED, SETTLED or FAILED.")
    payment_reference: str | None = None
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When the payment event happened; defaults to now; never in the future.",
    )


@strawberry.input
class VoidCreditGrantInput:
    grant_id: strawberry.ID
    reason: str | None = None


@strawberry.enum
class InsufficientCreditsBehavior(Enum):
    """REJECT consumes nothing and answers InsufficientCreditsError; PARTIAL consumes what is
    available and reports the shortfall."""

    REJECT = "REJECT"
    PARTIAL = "PARTIAL"


@strawberry.input
class ConsumeCreditsInput:
    customer_id: strawberry.ID
    key: str = strawberry.field(
        description="Unique per customer: the caller's reference for this usage (a charge or "
        "event id). A retry with the same key and input answers with the first result."
    )
    currency: str
    amount: Decimal
    feature_key: str | None = strawberry.field(
        default=None,
        description="The feature being paid for; only grants unrestricted or listing it are drawn.",
    )
    description: str | None = None
    labels: list[LabelInput] | None = None
    on_insufficient: InsufficientCreditsBehavior | None = InsufficientCreditsBehavior.REJECT


@strawberry.input
class ReverseCreditConsumptionInput:
    consumption_id: strawberry.ID
    key: str = strawberry.field(description="Unique per customer, like every creation key.")
    amount: Decimal | None = strawberry.field(
        default=None, description="Defaults to everything not yet reversed."
    )
    reason: str | None = None
