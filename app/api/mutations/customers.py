"""Mutations on customers, custom currencies and portal tokens."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app.api.access import CreatePortalTokenInput, CreatePortalTokenResult, portal_token
from app.api.common import label_pairs
from app.api.context import Context
from app.api.currencies import CreateCustomCurrencyInput, Currency
from app.api.customers import CreateCustomerInput, UpdateCustomerInput
from app.api.mutation_results import (
    CreateCustomCurrencyResult,
    CreateCustomCurrencySuccess,
    CreateCustomerResult,
    CreateCustomerSuccess,
    UpdateCustomerResult,
    UpdateCustomerSuccess,
)
from app.api.mutations.support import answer, forbidden
from app.services import currencies, customers


@strawberry.mutation(
    description=(
        "Create a customer, who owns credits. `key` is your unique reference for them: the "
        "same key and input again answers with the first result (`replayed: true`); the "
        "same key with a different input is a KeyConflictError."
    )
)
async def create_customer(
    info: Info[Context, None],
    input: Annotated[
        CreateCustomerInput, strawberry.argument(description="The customer to create.")
    ],
) -> CreateCustomerResult:
    if refused := forbidden(info, "createCustomer"):
        return refused
    call = customers.create_customer(
        info.context.runtime,
        key=input.key,
        name=input.name,
        description=input.description,
        labels=label_pairs(input.labels),
    )

    async def success(result: tuple[str, bool]) -> CreateCustomerSuccess:
        customer = await info.context.loaders.customer(result[0])
        return CreateCustomerSuccess(customer=customer, replayed=result[1])

    return await answer(info, call, success)  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Change a customer's name, description or labels. Only the fields given change (an "
        "omitted or null field stays as it is); `labels`, when given, replace all labels."
    )
)
async def update_customer(
    info: Info[Context, None],
    input: Annotated[
        UpdateCustomerInput,
        strawberry.argument(description="The customer, and the fields to change."),
    ],
) -> UpdateCustomerResult:
    if refused := forbidden(info, "updateCustomer"):
        return refused
    call = customers.update_customer(
        info.context.runtime,
        customer_id=input.customer_id,
        name=input.name,
        description=input.description,
        labels=label_pairs(input.labels),
    )

    async def success(customer_id: str) -> UpdateCustomerSuccess:
        return UpdateCustomerSuccess(customer=await info.context.loaders.customer(customer_id))

    return await answer(info, call, success)  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Declare a custom credit unit, for credits that are not money (TOKENS, SEATS): a "
        "code of 4 to 24 of A-Z, 0-9 and _, and a scale of 0 to 9 decimal places. The code "
        "is its key: the same code and input again is a replay. ADMIN only."
    )
)
async def create_custom_currency(
    info: Info[Context, None],
    input: Annotated[
        CreateCustomCurrencyInput,
        strawberry.argument(description="The custom credit unit to create."),
    ],
) -> CreateCustomCurrencyResult:
    if refused := forbidden(info, "createCustomCurrency"):
        return refused
    call = currencies.create_custom_currency(
        info.context.runtime, code=input.code, name=input.name, scale=input.scale
    )

    async def success(result: Any) -> CreateCustomCurrencySuccess:
        return CreateCustomCurrencySuccess(
            currency=Currency.from_domain(result[0]), replayed=result[1]
        )

    return await answer(info, call, success)  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Make a signed, read-only bearer token for one customer, to hand to that customer's "
        "browser for a dashboard: every query, `node` lookup and subscription made with it "
        "answers as if no other customer existed. Valid for `expiresIn` (default PT1H, at "
        "most P30D). ADMIN or WRITER."
    )
)
async def create_portal_token(
    info: Info[Context, None],
    input: Annotated[
        CreatePortalTokenInput,
        strawberry.argument(description="The customer the token is for, and how long it lasts."),
    ],
) -> CreatePortalTokenResult:
    if refused := forbidden(info, "createPortalToken"):
        return refused
    return await portal_token(info, input)  # type: ignore[return-value]
