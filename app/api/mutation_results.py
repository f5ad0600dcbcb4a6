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
    customer: Customer = strawberry.field(description="The customer with this key.")
    replayed: bool = strawberry.field(description=_REPLAYED)


@strawberry.type(description="The customer as it is after the change.")
class UpdateCustomerSuccess:
    customer: Customer = strawberry.field(description="The customer, changed.")


@strawberry.type(description="The custom credit unit created, or found again by its code.")
class CreateCustomCurrencySuccess:
    currency: Currency = strawberry.field(description="The custom credit unit with this code.")
    replayed: bool = strawberry.field(
        description="True when a unit with this code and these values already existed."
    )


@strawberry.type(
    description="The grant after a purchase, promotional grant, settlement or void, and the "
    "balance it leaves."
)
class CreditGrantSuccess:
    grant: CreditGrant = strawberry.field(description="The grant as it is after the change.")
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
    strawberry.union(
        "CreateCustomerResult",
        description="createCustomer's answer: the customer, or why none was made.",
    ),
]
UpdateCustomerResult = Annotated[
    UpdateCustomerSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "UpdateCustomerResult",
        description="updateCustomer's answer: the customer changed, or why it was not.",
    ),
]
CreateCustomCurrencyResult = Annotated[
    CreateCustomCurrencySuccess | ValidationError | KeyConflictError | ForbiddenError,
    strawberry.union(
        "CreateCustomCurrencyResult",
        description="createCustomCurrency's answer: the unit, or why none was made.",
    ),
]
PurchaseCreditsResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | KeyConflictError | ForbiddenError,
    strawberry.union(
        "PurchaseCreditsResult",
        description="purchaseCredits' answer: the paid grant, or why none was made.",
    ),
]
GrantPromotionalCreditsResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | KeyConflictError | ForbiddenError,
    strawberry.union(
        "GrantPromotionalCreditsResult",
        description="grantPromotionalCredits' answer: the grant, or why none was made.",
    ),
]
SettleCreditPurchaseResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | InvalidStateError | ForbiddenError,
    strawberry.union(
        "SettleCreditPurchaseResult",
        description="settleCreditPurchase's answer: the grant settled, or why not.",
    ),
]
VoidCreditGrantResult = Annotated[
    CreditGrantSuccess | ValidationError | NotFoundError | InvalidStateError | ForbiddenError,
    strawberry.union(
        "VoidCreditGrantResult",
        description="voidCreditGrant's answer: the grant voided, or why not.",
    ),
]
ConsumeCreditsResult = Annotated[
    ConsumeCreditsSuccess
    | ValidationError
    | NotFoundError
    | KeyConflictError
    | InsufficientCreditsError
    | ForbiddenError,
    strawberry.union(
        "ConsumeCreditsResult",
        description="consumeCredits' answer: the consumption, or why nothing was consumed.",
    ),
]
ReverseCreditConsumptionResult = Annotated[
    ReverseCreditConsumptionSuccess
    | ValidationError
    | NotFoundError
    | KeyConflictError
    | InvalidStateError
    | ForbiddenError,
    strawberry.union(
        "ReverseCreditConsumptionResult",
        description="reverseCreditConsumption's answer: the reversal, or why none was made.",
    ),
]
