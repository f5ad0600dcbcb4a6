"""The results of the mutations: a success type each, and the unions with their errors.

Each union is the success type or one of the expected errors, all implementing Error.
"""

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

_REPLAYED = "True when this answer is a replay of an earlier request with the same key."
_BALANCE = "The customer's balance in this currency right after the change."


@strawberry.type(description="The customer created, or found again by its key.")
class CreateCustomerSuccess:
    customer: Customer
    replayed: bool = strawberry.field(description=_REPLAYED)


@strawberry.type(description="The customer as it is after the change.")
class UpdateCustomerSuccess:
    customer: Customer


@strawberry.type(description="The custom credit unit created, or found again by its code.")
class CreateCustomCurrencySuccess:
    currency: Currency
    replayed: bool = strawberry.field(
        description="True when a unit with this code and these values already existed."
    )


@strawberry.type(
    description="The grant after a purchase, promotional grant, settlement or void, and the "
    "balance it leaves."
)
class CreditGrantSuccess:
    grant: CreditGrant
    balance: CreditBalance = strawberry.field(
        description="The customer's balance in the grant's currency right after the change."
    )
    replayed: bool = strawberry.field(
        description="True when this answer is a replay: the same key and input (or, for a "
        "settlement or void, the state already reached) and nothing was written."
    )


@strawberry.type(description="The consumption made (or found again by its key).")
class ConsumeCreditsSuccess:
    consumption: CreditConsumption = strawberry.field(
        description="What was drawn, from which grants (its entries, in burn order), and any "
        "shortfall under PARTIAL."
    )
    balance: CreditBalance = strawberry.field(description=_BALANCE)
    replayed: bool = strawberry.field(description=_REPLAYED)


@strawberry.type(description="The reversal made (or found again by its key).")
class ReverseCreditConsumptionSuccess:
    consumption: CreditConsumption = strawberry.field(
        description="The consumption reversed; its `reversed` includes this reversal."
    )
    entries: list[CreditLedgerEntry] = strawberry.field(
        description="The RESTORED entries and, for credits whose grant expired or was voided "
        "meanwhile, their EXPIRED or VOIDED entries."
    )
    balance: CreditBalance = strawberry.field(description=_BALANCE)
    replayed: bool = strawberry.field(description=_REPLAYED)


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
