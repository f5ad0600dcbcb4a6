"""Mutations on thresholds: create one (with an optional automatic top-up), delete one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.api.context import Context
from app.api.errors import ForbiddenError, KeyConflictError, NotFoundError, ValidationError
from app.api.grants import CreditFundingMethod
from app.api.mutation_inputs import PurchaseTermsInput
from app.api.mutations.grants import terms
from app.api.mutations.support import answer, forbidden
from app.api.scalars import Duration
from app.api.thresholds import CreditThreshold
from app.domain.grants import FundingMethod
from app.services import thresholds


@strawberry.input(description="What each crossing buys, with purchaseCredits' terms.")
class TopUpInput:
    amount: Decimal = strawberry.field(description="Credits to buy on each crossing.")
    funding_method: CreditFundingMethod = strawberry.field(description="INVOICE or EXTERNAL.")
    purchase: PurchaseTermsInput | None = strawberry.field(
        default=None, description="Payment terms, as for purchaseCredits."
    )
    priority: int | None = strawberry.field(
        default=10, description="The bought grant's priority (1 to 1000)."
    )
    features: list[str] | None = strawberry.field(
        default=None, description="Features the bought credits are restricted to."
    )
    expires_after: Duration | None = strawberry.field(
        default=None, description="How long the bought credits last; omit: never expire."
    )


@strawberry.input(description="A new threshold on a customer's available balance.")
class CreateCreditThresholdInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer to watch.")
    key: str | None = strawberry.field(
        default=None, description="Unique per customer, as for grants; makes retries safe."
    )
    name: str = strawberry.field(description="Its name, for people.")
    currency: str = strawberry.field(description="The currency whose balance it watches.")
    feature_key: str | None = strawberry.field(
        default=None,
        description="Watch the balance that can pay for this feature (creditBalance(featureKey:)).",
    )
    below: Decimal = strawberry.field(
        description="A drop of the available balance under this is a crossing; above zero."
    )
    top_up: TopUpInput | None = strawberry.field(
        default=None, description="Credits to buy on every crossing, in the same transaction."
    )


@strawberry.input(description="The threshold to delete.")
class DeleteCreditThresholdInput:
    threshold_id: strawberry.ID = strawberry.field(description="The threshold's id.")


@strawberry.type(description="The threshold after its creation or deletion.")
class CreditThresholdSuccess:
    threshold: CreditThreshold = strawberry.field(description="The threshold as it is now.")
    replayed: bool = strawberry.field(
        description="True when this answer is a replay (the same key and input, or a "
        "threshold already deleted) and nothing was written."
    )


CreateCreditThresholdResult = Annotated[
    CreditThresholdSuccess | ValidationError | NotFoundError | KeyConflictError | ForbiddenError,
    strawberry.union(
        "CreateCreditThresholdResult",
        description="createCreditThreshold's answer: the threshold, or why none was made.",
    ),
]
DeleteCreditThresholdResult = Annotated[
    CreditThresholdSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "DeleteCreditThresholdResult",
        description="deleteCreditThreshold's answer: the threshold deleted, or why not.",
    ),
]


@strawberry.mutation(
    description=(
        "Watch a customer's available balance in one currency: each committed change that "
        "takes it under `below` records a CROSSED event (and buys `topUp`, if given, in the "
        "same transaction), each change that brings it back a RECOVERED one. At most 10 "
        "per customer and currency."
    )
)
async def create_credit_threshold(
    info: Info[Context, None],
    input: Annotated[
        CreateCreditThresholdInput, strawberry.argument(description="The threshold to create.")
    ],
) -> CreateCreditThresholdResult:
    if refused := forbidden(info, "createCreditThreshold"):
        return refused
    request = thresholds.ThresholdRequest(
        customer_id=input.customer_id,
        key=input.key,
        name=input.name,
        currency=input.currency,
        feature_key=input.feature_key,
        below=input.below,
        top_up=None if input.top_up is None else top_up(input.top_up),
    )
    call = thresholds.create_credit_threshold(
        info.context.runtime, actor=info.context.actor, request=request
    )
    return await answer(info, call, success(info))  # type: ignore[no-any-return]


@strawberry.mutation(
    description="Stop a threshold from now on (state DELETED); its events are kept. "
    "Deleting it again is a replay."
)
async def delete_credit_threshold(
    info: Info[Context, None],
    input: Annotated[
        DeleteCreditThresholdInput, strawberry.argument(description="The threshold to delete.")
    ],
) -> DeleteCreditThresholdResult:
    if refused := forbidden(info, "deleteCreditThreshold"):
        return refused
    call = thresholds.delete_credit_threshold(
        info.context.runtime, actor=info.context.actor, threshold_id=input.threshold_id
    )
    return await answer(info, call, success(info))  # type: ignore[no-any-return]


def top_up(given: TopUpInput) -> thresholds.TopUpRequest:
    return thresholds.TopUpRequest(
        amount=given.amount,
        funding_method=FundingMethod(given.funding_method.value),
        purchase=terms(given.purchase),
        priority=10 if given.priority is None else given.priority,
        features=None if given.features is None else tuple(given.features),
        expires_after=given.expires_after,
    )


def success(
    info: Info[Context, None],
) -> Callable[[thresholds.ThresholdOutcome], Awaitable[CreditThresholdSuccess]]:
    async def made(outcome: thresholds.ThresholdOutcome) -> CreditThresholdSuccess:
        found = await info.context.loaders.threshold(outcome.threshold_id)
        return CreditThresholdSuccess(threshold=found, replayed=outcome.replayed)

    return made
