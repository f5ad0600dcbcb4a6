"""Creating and deleting thresholds (docs/thresholds.md); `app.services.watching` checks them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from app.domain.errors import Issue, Issues, ValidationFailed
from app.domain.grants import FundingMethod
from app.domain.ids import new_id
from app.domain.ledger import Actor
from app.domain.money import Currency, amount_problem, to_minor
from app.domain.thresholds import MAX_PER_CURRENCY, Threshold, ThresholdState, TopUp
from app.domain.time import Duration
from app.domain.validation import check_feature_key, check_text
from app.services.common import (
    Frame,
    Owned,
    check_id,
    check_key,
    customer_transaction,
    fingerprint,
    keyed_row,
    known_currency,
)
from app.services.grants import GrantRequest, PurchaseTerms, plan_purchase
from app.services.runtime import Runtime
from app.services.watching import available
from app.storage.tables import thresholds
from app.storage.thresholds import top_up_values


@dataclass(frozen=True)
class TopUpRequest:
    amount: Decimal
    funding_method: FundingMethod
    purchase: PurchaseTerms | None = None
    priority: int = 10
    features: tuple[str, ...] | None = None
    expires_after: Duration | None = None


@dataclass(frozen=True)
class ThresholdRequest:
    customer_id: str
    name: str
    currency: str
    below: Decimal
    key: str | None = None
    feature_key: str | None = None
    top_up: TopUpRequest | None = None


@dataclass(frozen=True)
class ThresholdOutcome:
    threshold_id: str
    replayed: bool


async def create_credit_threshold(
    runtime: Runtime, *, actor: Actor, request: ThresholdRequest
) -> ThresholdOutcome:
    now = runtime.clock.now()
    currency, top_up = await _validate(runtime, request, now)
    print_ = _fingerprint(request)
    async with customer_transaction(
        runtime, request.customer_id, actor, new_id("transaction"), currency.code
    ) as frame:
        if request.key is not None:
            row = await keyed_row(frame, thresholds, request.key, print_)
            if row is not None:
                return ThresholdOutcome(str(row.id), True)
        account = await frame.books.account(currency.code)
        if account.thresholds >= MAX_PER_CURRENCY:
            message = f"at most {MAX_PER_CURRENCY} thresholds per customer and currency"
            raise ValidationFailed([Issue(("input", "currency"), message)])
        threshold = Threshold(
            id=new_id("threshold"),
            customer_id=request.customer_id,
            name=request.name,
            currency=currency.code,
            feature_key=request.feature_key,
            below=to_minor(request.below, currency.scale),
            state=ThresholdState.ARMED,
            top_up=top_up,
            created_at=frame.now,
        )
        threshold.state = threshold.state_at(await available(frame.books, threshold))
        await _insert(frame, threshold, request.key, print_)
        account.thresholds += 1
        frame.books.touch_account(currency.code)
        frame.books.watched.pop(currency.code, None)
        return ThresholdOutcome(threshold.id, False)


async def delete_credit_threshold(
    runtime: Runtime, *, actor: Actor, threshold_id: str
) -> ThresholdOutcome:
    """Forward-looking: DELETED from now on, its events kept; deleting again replays."""
    issues = Issues()
    check_id(issues, ("input", "thresholdId"), threshold_id)
    issues.raise_any()
    owned = Owned(thresholds, "threshold", threshold_id, "Credit threshold")
    async with customer_transaction(runtime, owned, actor, new_id("transaction")) as frame:
        statement = select(thresholds.c.state, thresholds.c.currency)
        row = (
            await frame.connection.execute(statement.where(thresholds.c.id == threshold_id))
        ).one()
        if row.state == ThresholdState.DELETED.value:
            return ThresholdOutcome(threshold_id, True)
        deleted = {"state": ThresholdState.DELETED.value, "deleted_at": frame.now}
        change = thresholds.update().where(thresholds.c.id == threshold_id)
        await frame.connection.execute(change.values(**deleted, updated_at=frame.now))
        account = await frame.books.account(row.currency)
        account.thresholds -= 1
        frame.books.touch_account(row.currency)
        frame.books.watched.pop(row.currency, None)
        return ThresholdOutcome(threshold_id, False)


async def _validate(
    runtime: Runtime, request: ThresholdRequest, now: datetime
) -> tuple[Currency, TopUp | None]:
    issues = Issues()
    check_id(issues, ("input", "customerId"), request.customer_id)
    check_key(issues, ("input", "key"), request.key)
    check_text(issues, ("input", "name"), request.name, low=1, high=256)
    currency = await known_currency(runtime, issues, ("input", "currency"), request.currency)
    problem = amount_problem(request.below, currency) if currency else None
    if problem:
        issues.add(("input", "below"), problem)
    check_feature_key(issues, ("input", "featureKey"), request.feature_key)
    top_up = None
    if request.top_up is not None and currency is not None:
        top_up = await _top_up(runtime, issues, request, now)
    issues.raise_any()
    assert currency is not None
    return currency, top_up


async def _top_up(
    runtime: Runtime, issues: Issues, request: ThresholdRequest, now: datetime
) -> TopUp | None:
    """purchaseCredits' checks of the top-up's terms, its issues under `input.topUp`."""
    given = request.top_up
    assert given is not None
    purchase = GrantRequest(
        customer_id=request.customer_id,
        name=request.name or "top-up",
        currency=request.currency,
        amount=given.amount,
        funding_method=given.funding_method,
        purchase=given.purchase,
        priority=given.priority,
        features=given.features,
        expires_after=given.expires_after,
    )
    try:
        plan = await plan_purchase(runtime, purchase, now=now)
    except ValidationFailed as failure:
        for issue in failure.issues:
            if issue.field[1] not in ("customerId", "name", "currency"):
                issues.add(("input", "topUp", *issue.field[1:]), issue.message)
        return None
    grant, terms = plan.grant, plan.grant.purchase
    assert terms is not None
    return TopUp(
        amount=grant.amount,
        funding_method=grant.funding_method,
        purchase_currency=terms.currency,
        cost_basis=terms.cost_basis,
        price=terms.amount,
        availability_policy=terms.availability_policy,
        settlement_status=terms.settlement_status,
        payment_reference=terms.payment_reference,
        priority=grant.priority,
        features=grant.features,
        expires_after=given.expires_after,
    )


async def _insert(frame: Frame, threshold: Threshold, key: str | None, print_: str) -> None:
    values = {
        "id": threshold.id,
        "customer_id": threshold.customer_id,
        "key": key,
        "fingerprint": print_,
        "name": threshold.name,
        "currency": threshold.currency,
        "feature_key": threshold.feature_key,
        "below": threshold.below,
        "state": threshold.state.value,
        "created_at": frame.now,
        "updated_at": frame.now,
    }
    await frame.connection.execute(
        thresholds.insert().values(values | top_up_values(threshold.top_up))
    )


def _fingerprint(request: ThresholdRequest) -> str:
    given = request.top_up
    terms = None if given is None else given.purchase or PurchaseTerms()
    return fingerprint(
        "threshold",
        {
            "name": request.name,
            "currency": request.currency,
            "featureKey": request.feature_key,
            "below": request.below,
            "topUp": None
            if given is None or terms is None
            else {
                "amount": given.amount,
                "fundingMethod": given.funding_method.value,
                "purchase": {
                    "currency": terms.currency or request.currency,
                    "perUnitCostBasis": terms.cost_basis,
                    "availabilityPolicy": terms.availability_policy.value,
                    "settlementStatus": terms.settlement_status.value,
                    "paymentReference": terms.payment_reference,
                },
                "priority": given.priority,
                "features": sorted(set(given.features or ())),
                "expiresAfter": given.expires_after,
            },
        },
    )
