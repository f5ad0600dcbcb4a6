"""The inputs of the mutations, as the contract names them, described in the domain's words."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from app.api.common import LabelInput
from app.api.grants import CreditAvailabilityPolicy, CreditFundingMethod, CreditSettlementStatus
from app.api.scalars import Duration

# Shared by the two grant inputs.
_GRANT_KEY = (
    "Your unique reference for the grant, per customer (paid and promotional grants share "
    "one namespace). The same key and input again answers with the first result; with a "
    "different input it is a KeyConflictError."
)
_AMOUNT = "Credits granted, above zero, with at most the currency's scale of decimal places."
_PRIORITY = "1 to 1000 (default 10). Lower numbers are consumed first."
_FEATURES = "Features the credits may pay for (lowercase words joined by _); none: any feature."
_EFFECTIVE_AT = (
    "When the credits may become consumable. Defaults to now; may be in the past or future."
)
_EXPIRES_AT = "When what remains is forfeited (an EXPIRED entry); after effectiveAt and after now."


@strawberry.input(description="How a purchase is paid and when its credits become consumable.")
class PurchaseTermsInput:
    currency: str | None = strawberry.field(
        default=None,
        description="Defaults to the credit currency. For a custom credit unit it is required.",
    )
    per_unit_cost_basis: Decimal | None = strawberry.field(
        default=Decimal(1),
        description="The price of one credit in the purchase currency; above zero. The "
        "purchase's amount is amount times perUnitCostBasis, rounded half to even.",
    )
    availability_policy: CreditAvailabilityPolicy | None = strawberry.field(
        default=CreditAvailabilityPolicy.ON_CREATION,
        description="When the credits become consumable: at creation (trust the invoice), "
        "once the payment is authorized, or once it is settled.",
    )
    settlement_status: CreditSettlementStatus | None = strawberry.field(
        default=CreditSettlementStatus.PENDING,
        description="The payment state at creation, for payments already under way or done.",
    )
    payment_reference: str | None = strawberry.field(
        default=None, description="The invoice or payment id in the system that collects it."
    )


@strawberry.input(description="A paid grant: credits sold to a customer.")
class PurchaseCreditsInput:
    customer_id: strawberry.ID = strawberry.field(
        description="The customer who receives the credits."
    )
    key: str | None = strawberry.field(
        default=None,
        description="Unique per customer. Repeating a request with the same key and input "
        "answers with the first result; with a different input it is a KeyConflictError.",
    )
    name: str = strawberry.field(description="Shown to people: 1 to 256 characters.")
    description: str | None = strawberry.field(default=None, description="Free text, for people.")
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="For your own use."
    )
    currency: str = strawberry.field(description="The credits' currency or custom unit code.")
    amount: Decimal = strawberry.field(description=_AMOUNT)
    funding_method: CreditFundingMethod = strawberry.field(
        description="INVOICE or EXTERNAL; NONE is a validation error here "
        "(use grantPromotionalCredits)."
    )
    purchase: PurchaseTermsInput | None = strawberry.field(
        default=None, description="Payment terms; omitted, every default applies."
    )
    priority: int | None = strawberry.field(default=10, description=_PRIORITY)
    features: list[str] | None = strawberry.field(default=None, description=_FEATURES)
    effective_at: datetime | None = strawberry.field(
        default=None, description="Defaults to now. May be in the past or the future."
    )
    expires_after: Duration | None = strawberry.field(
        default=None,
        description="Expiry measured from effectiveAt. At most one of expiresAfter and expiresAt.",
    )
    expires_at: datetime | None = strawberry.field(default=None, description=_EXPIRES_AT)


@strawberry.input(description="A promotional grant: credits nobody pays for (funding NONE).")
class GrantPromotionalCreditsInput:
    customer_id: strawberry.ID = strawberry.field(
        description="The customer who receives the credits."
    )
    key: str | None = strawberry.field(default=None, description=_GRANT_KEY)
    name: str = strawberry.field(description="Shown to people: 1 to 256 characters.")
    description: str | None = strawberry.field(default=None, description="Free text, for people.")
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="For your own use."
    )
    currency: str = strawberry.field(description="The credits' currency or custom unit code.")
    amount: Decimal = strawberry.field(description=_AMOUNT)
    priority: int | None = strawberry.field(default=10, description=_PRIORITY)
    features: list[str] | None = strawberry.field(default=None, description=_FEATURES)
    effective_at: datetime | None = strawberry.field(default=None, description=_EFFECTIVE_AT)
    expires_after: Duration | None = strawberry.field(
        default=None,
        description="Expiry measured from effectiveAt (P30D: thirty days; P1M: a calendar "
        "month). At most one of expiresAfter and expiresAt.",
    )
    expires_at: datetime | None = strawberry.field(default=None, description=_EXPIRES_AT)


@strawberry.input(description="A payment event for a paid grant.")
class SettleCreditPurchaseInput:
    grant_id: strawberry.ID = strawberry.field(description="The paid grant whose payment moved.")
    status: CreditSettlementStatus = strawberry.field(description="AUTHORIZED, SETTLED or FAILED.")
    payment_reference: str | None = strawberry.field(
        default=None, description="The payment's id, recorded on the purchase."
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When the payment event happened; defaults to now; never in the future.",
    )


@strawberry.input(description="Which grant to void, and why.")
class VoidCreditGrantInput:
    grant_id: strawberry.ID = strawberry.field(description="The grant to void.")
    reason: str | None = strawberry.field(
        default=None, description="Kept on the grant and as the VOIDED entry's description."
    )


@strawberry.enum(description="What consumeCredits does when the eligible credits fall short.")
class InsufficientCreditsBehavior(Enum):
    """What consumeCredits does when the eligible credits fall short."""

    REJECT = strawberry.enum_value(
        "REJECT", description="Consume nothing and answer InsufficientCreditsError."
    )
    PARTIAL = strawberry.enum_value(
        "PARTIAL", description="Consume what is available and report the shortfall."
    )


@strawberry.input(description="One use of credits: how much, in what, for which feature.")
class ConsumeCreditsInput:
    customer_id: strawberry.ID = strawberry.field(
        description="The customer whose credits are used."
    )
    key: str = strawberry.field(
        description="Unique per customer: the caller's reference for this usage (a charge or "
        "event id). A retry with the same key and input answers with the first result."
    )
    currency: str = strawberry.field(description="The currency or custom unit code to draw.")
    amount: Decimal = strawberry.field(description="Above zero, at the currency's scale.")
    feature_key: str | None = strawberry.field(
        default=None,
        description="The feature being paid for; only grants unrestricted or listing it are drawn.",
    )
    description: str | None = strawberry.field(
        default=None, description="Recorded on the consumption and on each of its entries."
    )
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="For your own use."
    )
    on_insufficient: InsufficientCreditsBehavior | None = strawberry.field(
        default=InsufficientCreditsBehavior.REJECT,
        description="What to do when the eligible credits fall short.",
    )


@strawberry.input(description="A refund of all or part of one consumption.")
class ReverseCreditConsumptionInput:
    consumption_id: strawberry.ID = strawberry.field(description="The consumption to give back.")
    key: str = strawberry.field(description="Unique per customer, like every creation key.")
    amount: Decimal | None = strawberry.field(
        default=None, description="Defaults to everything not yet reversed."
    )
    reason: str | None = strawberry.field(
        default=None, description="Recorded as the RESTORED entries' description."
    )
