"""The results of the mutations: a success type each, and the unions with their errors."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.api.balances import CreditBalance
from app.api.currencies import Currency
from app.api.customers import Customer
from app.api.errors import (
    ForbiddenError,
    InsufficientCreditsError,
    InvalidStateError,
    KeyConflictError,
    NotFoundError,
    ValidationError,
)
from app.api.grants import CreditGrant
from app.api.ledger import CreditConsumption, CreditLedgerEntry


@strawberry.type
class CreateCustomerSuccess:
    customer: Customer
    replayed: bool


@strawberry.type
class UpdateCustomerSuccess:
    customer: Customer


@strawberry.type
class CreateCustomCurrencySuccess:
    currency: Currency
    replayed: bool


@strawberry.type
class CreditGrantSuccess:
    grant: CreditGrant
    balance: CreditBalance = strawberry.field(
        description="The customer's balance in the grant's currency right after the change."
    )
    replayed: bool = strawberry.field(
        description="True when this answer is a replay of an earlier request with the same key."
    )


@strawberry.type
class ConsumeCreditsSuccess:
    consumption: CreditConsumption
    balance: CreditBalance
    replayed: bool


@strawberry.type
class ReverseCreditConsumptionSuccess:
    consumption: CreditConsumption
    entries: list[CreditLedgerEntry] = strawberry.field(
        description="The RESTORED entries and, for credits whose grant expired or was voided "
        "meanwhile, their EXPIRED or VOIDED entries."
    )
    balance: CreditBalance
    replayed: bool


CreateCustomerResult = Annotated[
    CreateCustomerSuccess | ValidationError | KeyConflictError | ForbiddenError,
    strawberry.union("CreateCustomerResult"),
]
UpdateCustomerResult = Annotated[
    UpdateCustomerSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("UpdateCustomerResult"),
]
CreateCustomCurrencyResult = Annotated[
    CreateCustomCurrencySuccess | ValidationError | KeyConflictError | ForbiddenError,
    strawberry.union("CreateCustomCurrencyResult"),
]
PurchaseCreditsResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | KeyConflictError | ForbiddenError,
    strawberry.union("PurchaseCreditsResult"),
]
GrantPromotionalCreditsResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | KeyConflictError | ForbiddenError,
    strawberry.union("GrantPromotionalCreditsResult"),
]
SettleCreditPurchaseResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | InvalidStateError | ForbiddenError,
    strawberry.union("SettleCreditPurchaseResult"),
]
VoidCreditGrantResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | InvalidStateError | ForbiddenError,
    strawberry.union("VoidCreditGrantResult"),
]
ConsumeCreditsResult = Annotated[
    ConsumeCreditsSuccess
    | ValidationError
    | NotFoundError
    | KeyConflictError
    | InsufficientCreditsError
    | ForbiddenError,
    strawberry.union("ConsumeCreditsResult"),
]
ReverseCreditConsumptionResult = Annotated[
    ReverseCreditConsumptionSuccess
    | ValidationError
    | NotFoundError
    | KeyConflictError
    | InvalidStateError
    | ForbiddenError,
    strawberry.union("ReverseCreditConsumptionResult"),
]
