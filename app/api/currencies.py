"""Currency and the custom unit input."""

from __future__ import annotations

import strawberry

from app.domain.money import Currency as DomainCurrency


@strawberry.type(
    description="A unit that credits are denominated in: "
    "an ISO 4217 currency or a custom credit unit."
)
class Currency:
    code: str = strawberry.field(
        description='ISO 4217 code ("USD") or custom code of 4 to 24 characters ("TOKENS").'
    )
    name: str = strawberry.field(description="Its name, for people.")
    scale: int = strawberry.field(description="Decimal places an amount in this currency may have.")
    custom: bool = strawberry.field(
        description="A credit unit made with createCustomCurrency, not an ISO 4217 currency."
    )

    @classmethod
    def from_domain(cls, currency: DomainCurrency) -> Currency:
        return cls(
            code=currency.code, name=currency.name, scale=currency.scale, custom=currency.custom
        )


@strawberry.input(description="A custom credit unit: its code, name and scale (0 to 9).")
class CreateCustomCurrencyInput:
    code: str = strawberry.field(
        description="4 to 24 of A-Z, 0-9 and _; not an ISO 4217 code. Also its key."
    )
    name: str = strawberry.field(description="Its name, for people.")
    scale: int = strawberry.field(description="Decimal places its amounts may have: 0 to 9.")
