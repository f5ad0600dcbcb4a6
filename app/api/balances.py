"""CreditBalance and CreditExpiration."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.domain.balances import Balance
from app.domain.money import from_minor

if TYPE_CHECKING:
    from app.api.grants import CreditGrant


@strawberry.type
class CreditBalance:
    currency: str
    at: datetime = strawberry.field(description="The instant this balance describes.")
    feature_key: str | None
    available: Decimal = strawberry.field(description="Consumable now.")
    pending: Decimal = strawberry.field(
        description="Granted but not consumable yet: effective later, "
        "or waiting for payment under its availability policy."
    )
    funded: Decimal = strawberry.field(
        description="Lifetime totals up to `at`. funded - consumed - expired - voided = available."
    )
    consumed: Decimal
    expired: Decimal
    voided: Decimal
    available_promotional: Decimal = strawberry.field(
        description="Split of `available` by funding: promotional (NONE) and paid "
        "(INVOICE, EXTERNAL)."
    )
    available_paid: Decimal
    sequence: int = strawberry.field(
        description="Sequence of the last ledger entry this balance includes; 0 when there is none."
    )

    @classmethod
    def from_balance(cls, balance: Balance, scale: int) -> CreditBalance:
        return cls(
            currency=balance.currency,
            at=balance.at,
            feature_key=balance.feature_key,
            available=from_minor(balance.available, scale),
            pending=from_minor(balance.pending, scale),
            funded=from_minor(balance.funded, scale),
            consumed=from_minor(balance.consumed, scale),
            expired=from_minor(balance.expired, scale),
            voided=from_minor(balance.voided, scale),
            available_promotional=from_minor(balance.available_promotional, scale),
            available_paid=from_minor(balance.available_paid, scale),
            sequence=balance.sequence,
        )


@strawberry.type
class CreditExpiration:
    grant: Annotated[CreditGrant, strawberry.lazy("app.api.grants")]
    currency: str
    expires_at: datetime
    amount: Decimal = strawberry.field(
        description="What is still remaining on the grant and will be forfeited at expiresAt."
    )
