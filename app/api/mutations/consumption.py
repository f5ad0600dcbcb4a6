"""Mutations on usage: consume credits in burn order, and reverse a consumption."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from app.api.common import label_pairs
from app.api.context import Context
from app.api.mutation_inputs import (
    ConsumeCreditsInput,
    InsufficientCreditsBehavior,
    ReverseCreditConsumptionInput,
)
from app.api.mutation_results import (
    ConsumeCreditsResult,
    ConsumeCreditsSuccess,
    ReverseCreditConsumptionResult,
    ReverseCreditConsumptionSuccess,
)
from app.api.mutations.support import answer, balance_of, forbidden
from app.services import consumption, reversal


@strawberry.mutation(
    description=(
        "Use credits: draw `amount` from the customer's eligible grants (ACTIVE, in the "
        "currency, unrestricted or listing `featureKey`) in burn order: lowest priority "
        "number first, restricted to features before unrestricted, soonest expiry, lowest "
        "cost basis (promotional first), earliest. One CONSUMED entry per grant drawn, all "
        "in one transaction. When credits fall short, REJECT (the default) writes nothing "
        "and answers InsufficientCreditsError; PARTIAL takes what there is and reports the "
        "`shortfall`. `key` (your usage or charge id) makes a retry safe."
    )
)
async def consume_credits(
    info: Info[Context, None],
    input: Annotated[
        ConsumeCreditsInput, strawberry.argument(description="The usage to draw credits for.")
    ],
) -> ConsumeCreditsResult:
    if refused := forbidden(info, "consumeCredits"):
        return refused
    behavior = input.on_insufficient or InsufficientCreditsBehavior.REJECT
    request = consumption.ConsumeRequest(
        customer_id=input.customer_id,
        key=input.key,
        currency=input.currency,
        amount=input.amount,
        feature_key=input.feature_key,
        description=input.description,
        labels=label_pairs(input.labels),
        on_insufficient=consumption.InsufficientCreditsBehavior(behavior.name),
    )
    call = consumption.consume_credits(
        info.context.runtime, actor=info.context.actor, request=request
    )

    async def success(outcome: consumption.ConsumptionOutcome) -> ConsumeCreditsSuccess:
        found = await info.context.loaders.consumption(outcome.consumption_id)
        assert found is not None
        balance = await balance_of(info, outcome.balance)
        return ConsumeCreditsSuccess(consumption=found, balance=balance, replayed=outcome.replayed)

    return await answer(info, call, success)  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Give back all or part of one consumption (a refund of usage): RESTORED entries "
        "return the credits to the grants they came from, in reverse burn order. Credits "
        "restored to a grant that has expired or been voided since are forfeited at once "
        "(an EXPIRED or VOIDED entry in the same transaction). It undoes usage; "
        "voidCreditGrant instead withdraws credits not yet used. Never more than was "
        "consumed."
    )
)
async def reverse_credit_consumption(
    info: Info[Context, None],
    input: Annotated[
        ReverseCreditConsumptionInput,
        strawberry.argument(description="The consumption, and how much of it to give back."),
    ],
) -> ReverseCreditConsumptionResult:
    if refused := forbidden(info, "reverseCreditConsumption"):
        return refused
    call = reversal.reverse_credit_consumption(
        info.context.runtime,
        actor=info.context.actor,
        consumption_id=input.consumption_id,
        key=input.key,
        amount=input.amount,
        reason=input.reason,
    )

    async def success(outcome: reversal.ReversalOutcome) -> ReverseCreditConsumptionSuccess:
        loaders = info.context.loaders
        found = await loaders.consumption(outcome.consumption_id)
        assert found is not None
        booked = [await loaders.entry(entry_id) for entry_id in outcome.entry_ids]
        return ReverseCreditConsumptionSuccess(
            consumption=found,
            entries=[entry for entry in booked if entry is not None],
            balance=await balance_of(info, outcome.balance),
            replayed=outcome.replayed,
        )

    return await answer(info, call, success)  # type: ignore[no-any-return]
