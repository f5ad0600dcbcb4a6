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


@strawberry.type(
    description="Figures derived from the ledger for one customer and currency at one instant."
)
class CreditBalance:
    currency: str = strawberry.field(description="The currency or custom unit code.")
    at: datetime = strawberry.field(description="The instant this balance describes.")
    feature_key: str | None = strawberry.field(
        description="When given, every figure counts only grants unrestricted or listing "
        "this feature."
    )
    available: Decimal = strawberry.field(description="Consumable now.")
    pending: Decimal = strawberry.field(
        description="Granted but not consumable yet: effective later, "
        "or waiting for payment under its availability policy."
    )
    funded: Decimal = strawberry.field(
        description="Lifetime totals up to `at`. funded - consumed - expired - voided = available."
    )
    consumed: Decimal = strawberry.field(description="Consumed net of reversals.")
    expired: Decimal = strawberry.field(description="Forfeited at grants' expiry.")
    voided: Decimal = strawberry.field(description="Forfeited by voids.")
    available_promotional: Decimal = strawberry.field(
        description="Split of `available` by funding: promotional (NONE) and paid "
        "(INVOICE, EXTERNAL)."
    )
    available_paid: Decimal = strawberry.field(
        description="The part of `available` from paid grants (INVOICE, EXTERNAL)."
    )
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


@strawberry.type(description="Credits of one funded grant that will expire unless used.")
class CreditExpiration:
    grant: Annotated[CreditGrant, strawberry.lazy("app.api.grants")] = strawberry.field(
        description="The grant whose credits expire."
    )
    currency: str = strawberry.field(description="The grant's currency.")
    expires_at: datetime = strawberry.field(description="When the remaining credits expire.")
    amount: Decimal = strawberry.field(
        description="What is still remaining on the grant and will be forfeited at expiresAt."
    )

    @classmethod
    def of_grant(cls, grant: CreditGrant) -> CreditExpiration:
        assert grant.expires_at is not None
        return cls(
            grant=grant,
            currency=grant.currency,
            expires_at=grant.expires_at,
            amount=grant.remaining,
        )
