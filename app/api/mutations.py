"""The Mutation root: parse input, call one service, map the result or the expected error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from app.api.access import CreatePortalTokenInput, CreatePortalTokenResult, portal_token
from app.api.balances import CreditBalance
from app.api.common import label_pairs
from app.api.context import Context
from app.api.currencies import CreateCustomCurrencyInput, Currency
from app.api.customers import CreateCustomerInput, UpdateCustomerInput
from app.api.errors import (
    ErrorCode,
    ForbiddenError,
    to_graphql,
)
from app.api.mutation_inputs import (
    ConsumeCreditsInput,
    GrantPromotionalCreditsInput,
    InsufficientCreditsBehavior,
    PurchaseCreditsInput,
    PurchaseTermsInput,
    ReverseCreditConsumptionInput,
    SettleCreditPurchaseInput,
    VoidCreditGrantInput,
)
from app.api.mutation_results import (
    ConsumeCreditsResult,
    ConsumeCreditsSuccess,
    CreateCustomCurrencyResult,
    CreateCustomCurrencySuccess,
    CreateCustomerResult,
    CreateCustomerSuccess,
    CreditGrantSuccess,
    GrantPromotionalCreditsResult,
    PurchaseCreditsResult,
    ReverseCreditConsumptionResult,
    ReverseCreditConsumptionSuccess,
    SettleCreditPurchaseResult,
    UpdateCustomerResult,
    UpdateCustomerSuccess,
    VoidCreditGrantResult,
)
from app.domain.balances import Balance
from app.domain.errors import DomainError
from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.services import consumption, currencies, customers, grants, reversal, settlement

T = TypeVar("T")


async def _answer(
    info: Info[Context, None], call: Awaitable[T], success: Callable[[T], Awaitable[Any]]
) -> Any:
    """Run the use case; an expected failure becomes a member of the result union.

    The answer is read at a fresh instant: the change happened after the request began.
    """
    try:
        outcome = await call
    except DomainError as error:
        return to_graphql(error)
    info.context.refresh()
    return await success(outcome)


async def _balance(info: Info[Context, None], balance: Balance) -> CreditBalance:
    scales = await info.context.loaders.scales([balance.currency])
    return CreditBalance.from_balance(balance, scales[balance.currency])


def _grant_request(input: Any, funding: FundingMethod, purchase: Any) -> grants.GrantRequest:
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


def _terms(terms: PurchaseTermsInput | None) -> grants.PurchaseTerms | None:
    if terms is None:
        return None
    defaults = grants.PurchaseTerms()
    return grants.PurchaseTerms(
        currency=terms.currency,
        cost_basis=defaults.cost_basis
        if terms.per_unit_cost_basis is None
        else terms.per_unit_cost_basis,
        availability_policy=AvailabilityPolicy(terms.availability_policy.value)
        if terms.availability_policy
        else defaults.availability_policy,
        settlement_status=SettlementStatus(terms.settlement_status.value)
        if terms.settlement_status
        else defaults.settlement_status,
        payment_reference=terms.payment_reference,
    )


@strawberry.type(
    description="Writes. Each mutation is one transaction: all of it is written or none. "
    "Expected failures are members of its result union, implementing Error."
)
class Mutation:
    @strawberry.mutation(
        description=(
            "Create a customer, who owns credits. `key` is your unique reference for them: the "
            "same key and input again answers with the first result (`replayed: true`); the "
            "same key with a different input is a KeyConflictError."
        )
    )
    async def create_customer(
        self, info: Info[Context, None], input: CreateCustomerInput
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

        return await _answer(info, call, success)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description=(
            "Change a customer's name, description or labels. Only the fields given change (an "
            "omitted or null field stays as it is); `labels`, when given, replace all labels."
        )
    )
    async def update_customer(
        self, info: Info[Context, None], input: UpdateCustomerInput
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

        return await _answer(info, call, success)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description=(
            "Declare a custom credit unit, for credits that are not money (TOKENS, SEATS): a "
            "code of 4 to 24 of A-Z, 0-9 and _, and a scale of 0 to 9 decimal places. The code "
            "is its key: the same code and input again is a replay. ADMIN only."
        )
    )
    async def create_custom_currency(
        self, info: Info[Context, None], input: CreateCustomCurrencyInput
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

        return await _answer(info, call, success)  # type: ignore[no-any-return]

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
        self, info: Info[Context, None], input: PurchaseCreditsInput
    ) -> PurchaseCreditsResult:
        if refused := forbidden(info, "purchaseCredits"):
            return refused
        request = _grant_request(
            input, FundingMethod(input.funding_method.value), _terms(input.purchase)
        )
        call = grants.purchase_credits(
            info.context.runtime, actor=info.context.actor, request=request
        )
        return await _answer(info, call, _grant_success(info))  # type: ignore[no-any-return]

    @strawberry.mutation(
        description=(
            "Give credits that nobody pays for (funding NONE): welcome credits, compensation, "
            "trials. Funded at `effectiveAt`; give them a lower `priority` number than paid "
            "credits to have them consumed first, and an expiry so they do not last for ever."
        )
    )
    async def grant_promotional_credits(
        self, info: Info[Context, None], input: GrantPromotionalCreditsInput
    ) -> GrantPromotionalCreditsResult:
        if refused := forbidden(info, "grantPromotionalCredits"):
            return refused
        request = _grant_request(input, FundingMethod.NONE, None)
        call = grants.grant_promotional_credits(
            info.context.runtime, actor=info.context.actor, request=request
        )
        return await _answer(info, call, _grant_success(info))  # type: ignore[no-any-return]

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
        self, info: Info[Context, None], input: SettleCreditPurchaseInput
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
        return await _answer(info, call, _grant_success(info))  # type: ignore[no-any-return]

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
        self, info: Info[Context, None], input: VoidCreditGrantInput
    ) -> VoidCreditGrantResult:
        if refused := forbidden(info, "voidCreditGrant"):
            return refused
        call = settlement.void_credit_grant(
            info.context.runtime,
            actor=info.context.actor,
            grant_id=input.grant_id,
            reason=input.reason,
        )
        return await _answer(info, call, _grant_success(info))  # type: ignore[no-any-return]

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
        self, info: Info[Context, None], input: ConsumeCreditsInput
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
            balance = await _balance(info, outcome.balance)
            return ConsumeCreditsSuccess(
                consumption=found, balance=balance, replayed=outcome.replayed
            )

        return await _answer(info, call, success)  # type: ignore[no-any-return]

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
        self, info: Info[Context, None], input: ReverseCreditConsumptionInput
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
                balance=await _balance(info, outcome.balance),
                replayed=outcome.replayed,
            )

        return await _answer(info, call, success)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description=(
            "Make a signed, read-only bearer token for one customer, to hand to that customer's "
            "browser for a dashboard: every query, `node` lookup and subscription made with it "
            "answers as if no other customer existed. Valid for `expiresIn` (default PT1H, at "
            "most P30D). ADMIN or WRITER."
        )
    )
    async def create_portal_token(
        self, info: Info[Context, None], input: CreatePortalTokenInput
    ) -> CreatePortalTokenResult:
        if refused := forbidden(info, "createPortalToken"):
            return refused
        return await portal_token(info, input)  # type: ignore[return-value]


def forbidden(info: Info[Context, None], mutation: str) -> ForbiddenError | None:
    """The refusal for a mutation the viewer's role may not make (portal tokens: none)."""
    viewer = info.context.viewer
    if viewer is not None and viewer.may_mutate(mutation):
        return None
    role = viewer.role.value if viewer is not None and viewer.role else "a portal token"
    message = f"{mutation} is not allowed for {role}"
    return ForbiddenError(code=ErrorCode.FORBIDDEN, message=message)


def _grant_success(
    info: Info[Context, None],
) -> Callable[[grants.GrantOutcome], Awaitable[CreditGrantSuccess]]:
    async def success(outcome: grants.GrantOutcome) -> CreditGrantSuccess:
        grant = await info.context.loaders.grant(outcome.grant_id)
        balance = await _balance(info, outcome.balance)
        return CreditGrantSuccess(grant=grant, balance=balance, replayed=outcome.replayed)

    return success
