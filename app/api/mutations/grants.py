"""Mutations on grants: sell credits, give promotional ones, settle a payment, void."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app.api.common import label_pairs
from app.api.context import Context
from app.api.mutation_inputs import (
    GrantPromotionalCreditsInput,
    PurchaseCreditsInput,
    PurchaseTermsInput,
    SettleCreditPurchaseInput,
    VoidCreditGrantInput,
)
from app.api.mutation_results import (
    GrantPromotionalCreditsResult,
    PurchaseCreditsResult,
    SettleCreditPurchaseResult,
    VoidCreditGrantResult,
)
from app.api.mutations.support import answer, forbidden, grant_success
from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.services import grants, settlement


@strawberry.mutation(
    description=(
        "Sell credits: create a paid grant (funding INVOICE or EXTERNAL) with its payment "
        "terms. Its credits become consumable (a FUNDED entry) at `effectiveAt` once the "
        "availability policy is met: at creation, when the payment is authorized, or when "
        "it is settled. Report the payment's progress with settleCreditPurchase. Answers "
        "the grant and the balance right after."
    )
)
async def purchase_credits(
    info: Info[Context, None],
    input: Annotated[
        PurchaseCreditsInput,
        strawberry.argument(description="The paid grant to create, with its payment terms."),
    ],
) -> PurchaseCreditsResult:
    if refused := forbidden(info, "purchaseCredits"):
        return refused
    request = grant_request(input, FundingMethod(input.funding_method.value), terms(input.purchase))
    call = grants.purchase_credits(info.context.runtime, actor=info.context.actor, request=request)
    return await answer(info, call, grant_success(info))  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Give credits that nobody pays for (funding NONE): welcome credits, compensation, "
        "trials. Funded at `effectiveAt`; give them a lower `priority` number than paid "
        "credits to have them consumed first, and an expiry so they do not last for ever."
    )
)
async def grant_promotional_credits(
    info: Info[Context, None],
    input: Annotated[
        GrantPromotionalCreditsInput,
        strawberry.argument(description="The promotional grant to create."),
    ],
) -> GrantPromotionalCreditsResult:
    if refused := forbidden(info, "grantPromotionalCredits"):
        return refused
    request = grant_request(input, FundingMethod.NONE, None)
    call = grants.grant_promotional_credits(
        info.context.runtime, actor=info.context.actor, request=request
    )
    return await answer(info, call, grant_success(info))  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Report a paid grant's payment progress, typically from a payment provider's "
        "webhook: PENDING to AUTHORIZED, SETTLED or FAILED; AUTHORIZED to SETTLED or "
        "FAILED. A move to the status the payment already has is a replay (safe to repeat). "
        "A move that meets the availability policy funds a grant still pending; FAILED "
        "voids the grant (reason `payment failed`). The ledger books the change now; "
        "`occurredAt` records when the payment event happened."
    )
)
async def settle_credit_purchase(
    info: Info[Context, None],
    input: Annotated[
        SettleCreditPurchaseInput,
        strawberry.argument(description="The grant, and where its payment has got to."),
    ],
) -> SettleCreditPurchaseResult:
    if refused := forbidden(info, "settleCreditPurchase"):
        return refused
    call = settlement.settle_credit_purchase(
        info.context.runtime,
        actor=info.context.actor,
        grant_id=input.grant_id,
        status=SettlementStatus(input.status.value),
        payment_reference=input.payment_reference,
        occurred_at=input.occurred_at,
    )
    return await answer(info, call, grant_success(info))  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Forfeit what remains of a grant, from now on and for good: a VOIDED entry takes "
        "its remaining credits out of the balance (a grant never funded just stops being "
        "pending). Credits already consumed stay consumed and the payment is unchanged. Use "
        "it to withdraw credits (a cancelled contract, a grant made by mistake); to give "
        "back one use of credits, use reverseCreditConsumption. PENDING and ACTIVE grants "
        "can be voided; voiding a VOIDED grant is a replay."
    )
)
async def void_credit_grant(
    info: Info[Context, None],
    input: Annotated[VoidCreditGrantInput, strawberry.argument(description="The grant to void.")],
) -> VoidCreditGrantResult:
    if refused := forbidden(info, "voidCreditGrant"):
        return refused
    call = settlement.void_credit_grant(
        info.context.runtime, actor=info.context.actor, grant_id=input.grant_id, reason=input.reason
    )
    return await answer(info, call, grant_success(info))  # type: ignore[no-any-return]


def grant_request(input: Any, funding: FundingMethod, purchase: Any) -> grants.GrantRequest:
    return grants.GrantRequest(
        customer_id=input.customer_id,
        key=input.key,
        name=input.name,
        description=input.description,
        labels=label_pairs(input.labels),
        currency=input.currency,
        amount=input.amount,
        funding_method=funding,
        purchase=purchase,
        priority=10 if input.priority is None else input.priority,
        features=None if input.features is None else tuple(input.features),
        effective_at=input.effective_at,
        expires_after=input.expires_after,
        expires_at=input.expires_at,
    )


def terms(given: PurchaseTermsInput | None) -> grants.PurchaseTerms | None:
    if given is None:
        return None
    defaults = grants.PurchaseTerms()
    return grants.PurchaseTerms(
        currency=given.currency,
        cost_basis=defaults.cost_basis
        if given.per_unit_cost_basis is None
        else given.per_unit_cost_basis,
        availability_policy=AvailabilityPolicy(given.availability_policy.value)
        if given.availability_policy
        else defaults.availability_policy,
        settlement_status=SettlementStatus(given.settlement_status.value)
        if given.settlement_status
        else defaults.settlement_status,
        payment_reference=given.payment_reference,
    )
