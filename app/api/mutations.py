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


@strawberry.type
class Mutation:
    @strawberry.mutation
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

    @strawberry.mutation
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

    @strawberry.mutation
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

    @strawberry.mutation
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

    @strawberry.mutation
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

    @strawberry.mutation
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

    @strawberry.mutation
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

    @strawberry.mutation
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
            on_insufficient=consumption.InsufficientCreditsBehavior(behavior.value),
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

    @strawberry.mutation
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

    @strawberry.mutation
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
