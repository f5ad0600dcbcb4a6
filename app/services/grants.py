"""Creating grants: paid purchases and promotional credits (docs/concepts.md, grants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from app.domain.balances import Balance
from app.domain.errors import Issue, Issues, KeyConflict, NotFound, ValidationFailed
from app.domain.grants import (
    AvailabilityPolicy,
    FundingMethod,
    Grant,
    Purchase,
    SettlementStatus,
)
from app.domain.ids import kind_of, new_id
from app.domain.ledger import Actor
from app.domain.money import (
    AMOUNT_LIMIT,
    Currency,
    amount_problem,
    cost_basis_problem,
    price,
    to_minor,
)
from app.domain.schedules import SCHEDULED_KEYS
from app.domain.time import Duration, add_duration, is_positive
from app.domain.validation import (
    check_aware,
    check_features,
    check_labels,
    check_priority,
    check_text,
)
from app.services.common import (
    Frame,
    check_id,
    check_key,
    customer_transaction,
    fingerprint,
    keyed_row,
    known_currency,
    label_set,
    labels_column,
)
from app.services.runtime import Runtime
from app.storage.balances import pending_at
from app.storage.tables import accounts, grants

if TYPE_CHECKING:
    from app.services.schedules import ScheduleRequest

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PurchaseTerms:
    currency: str | None = None
    cost_basis: Decimal = Decimal(1)
    availability_policy: AvailabilityPolicy = AvailabilityPolicy.ON_CREATION
    settlement_status: SettlementStatus = SettlementStatus.PENDING
    payment_reference: str | None = None


@dataclass(frozen=True)
class GrantRequest:
    customer_id: str
    name: str
    currency: str
    amount: Decimal
    funding_method: FundingMethod = FundingMethod.NONE
    purchase: PurchaseTerms | None = None
    key: str | None = None
    description: str | None = None
    labels: Labels | None = None
    priority: int = 10
    features: tuple[str, ...] | None = None
    effective_at: datetime | None = None
    expires_after: Duration | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class GrantOutcome:
    grant_id: str
    balance: Balance
    replayed: bool


async def purchase_credits(
    runtime: Runtime, *, actor: Actor, request: GrantRequest
) -> GrantOutcome:
    return await _create(runtime, actor, request, paid=True)


async def grant_promotional_credits(
    runtime: Runtime, *, actor: Actor, request: GrantRequest
) -> GrantOutcome:
    return await _create(runtime, actor, request, paid=False)


async def _create(
    runtime: Runtime, actor: Actor, request: GrantRequest, *, paid: bool
) -> GrantOutcome:
    now = runtime.clock.now()
    try:
        plan = await _validate(runtime, request, paid=paid, now=now)
    except ValidationFailed as failure:
        # An identical retry replays even when its times have passed since (an expiresAt
        # now in the past): the first request was valid when it was made. A key that is
        # itself invalid (a NUL in it) was never stored, and never goes to the database.
        key_ok = all(issue.field != ("input", "key") for issue in failure.issues)
        replayed = await _replay_refused(runtime, actor, request, paid) if key_ok else None
        if replayed is None:
            raise
        return replayed
    async with customer_transaction(
        runtime, request.customer_id, actor, new_id("transaction"), request.currency
    ) as frame:
        replay = await _replay(frame, request.key, plan.fingerprint)
        if replay is not None:
            return GrantOutcome(replay, await frame.balance(request.currency), True)
        await check_headroom(frame, plan.grant.currency, plan.grant.amount)
        frame.books.add_grant(plan.grant, plan.details)
        plan.grant.become_fundable(frame.now)
        await frame.books.fund_if_due(plan.grant, frame.booking)
        return GrantOutcome(plan.grant.id, await frame.balance(request.currency), False)


@dataclass
class Plan:
    grant: Grant
    details: dict[str, Any]
    fingerprint: str


async def check_grant_terms(
    runtime: Runtime, issues: Issues, request: GrantRequest | ScheduleRequest
) -> Currency | None:
    """The fields a grant and a schedule of grants share, each issue under `input`; the
    currency, when it is known."""
    check_id(issues, ("input", "customerId"), request.customer_id)
    check_key(issues, ("input", "key"), request.key)
    check_text(issues, ("input", "name"), request.name, low=1, high=256)
    check_text(issues, ("input", "description"), request.description, low=0, high=1024, lines=True)
    check_labels(issues, ("input", "labels"), request.labels)
    check_priority(issues, ("input", "priority"), request.priority)
    check_features(issues, ("input", "features"), request.features)
    currency = await known_currency(runtime, issues, ("input", "currency"), request.currency)
    amount_issue = amount_problem(request.amount, currency) if currency else None
    if amount_issue:
        issues.add(("input", "amount"), amount_issue)
    return currency


async def _validate(runtime: Runtime, request: GrantRequest, *, paid: bool, now: datetime) -> Plan:
    issues = Issues()
    currency = await check_grant_terms(runtime, issues, request)
    if request.key is not None and request.key.startswith(SCHEDULED_KEYS):
        issues.add(("input", "key"), f"keys starting with {SCHEDULED_KEYS!r} are the schedules'")
    effective_at, expires_at = _check_times(issues, request, now)
    purchase = None
    if paid:
        if request.funding_method is FundingMethod.NONE:
            issues.add(
                ("input", "fundingMethod"),
                "must be INVOICE or EXTERNAL; use grantPromotionalCredits for promotional credits",
            )
        purchase = await _check_purchase(runtime, issues, request, currency)
    issues.raise_any()
    assert currency is not None
    if purchase is not None:
        purchase.record_initial_status(now)
    grant = Grant(
        id=new_id("grant"),
        customer_id=request.customer_id,
        currency=currency.code,
        amount=to_minor(request.amount, currency.scale),
        funding_method=request.funding_method if paid else FundingMethod.NONE,
        priority=request.priority,
        features=tuple(sorted(set(request.features or ()))),
        effective_at=effective_at,
        expires_at=expires_at,
        created_at=now,
        purchase=purchase,
    )
    details = {
        "key": request.key,
        "name": request.name,
        "description": request.description,
        "labels": labels_column(request.labels),
    }
    print_ = _fingerprint(request, paid)
    details["fingerprint"] = print_
    return Plan(grant, details, print_)


def _check_times(
    issues: Issues, request: GrantRequest, now: datetime
) -> tuple[datetime, datetime | None]:
    aware = check_aware(issues, ("input", "effectiveAt"), request.effective_at)
    aware = check_aware(issues, ("input", "expiresAt"), request.expires_at) and aware
    effective_at = request.effective_at if aware and request.effective_at else now
    expires_at = request.expires_at if aware else None
    if request.expires_after is not None:
        if request.expires_at is not None:
            issues.add(("input", "expiresAfter"), "give at most one of expiresAfter and expiresAt")
        elif not is_positive(request.expires_after):
            issues.add(("input", "expiresAfter"), "must be a positive duration")
        else:
            try:
                expires_at = add_duration(effective_at, request.expires_after)
            except (OverflowError, ValueError):
                issues.add(("input", "expiresAfter"), "ends beyond the calendar's range")
    field = ("input", "expiresAfter" if request.expires_after is not None else "expiresAt")
    if expires_at is not None and aware and not issues.has(field):
        if expires_at <= effective_at:
            issues.add(field, "the expiry must be after effectiveAt")
        elif expires_at <= now:
            issues.add(field, "the expiry must be in the future")
    return effective_at, expires_at


async def _check_purchase(
    runtime: Runtime, issues: Issues, request: GrantRequest, currency: Currency | None
) -> Purchase | None:
    terms = request.purchase or PurchaseTerms()
    path = ("input", "purchase")
    code = terms.currency or (currency.code if currency and not currency.custom else None)
    if code is None:
        if currency is not None:
            issues.add((*path, "currency"), "is required when credits are in a custom unit")
        purchase_currency = None
    else:
        purchase_currency = runtime.catalog.iso.get(code)
        if purchase_currency is None:
            issues.add((*path, "currency"), f"{code!r} is not an ISO 4217 currency")
    basis_issue = cost_basis_problem(terms.cost_basis)
    if basis_issue:
        issues.add((*path, "perUnitCostBasis"), basis_issue)
    if terms.settlement_status is SettlementStatus.FAILED:
        issues.add((*path, "settlementStatus"), "a purchase cannot start FAILED")
    check_text(issues, (*path, "paymentReference"), terms.payment_reference, low=1, high=256)
    if purchase_currency is None or basis_issue or issues.has(("input", "amount")):
        return None
    total = to_minor(
        price(request.amount, terms.cost_basis, purchase_currency), purchase_currency.scale
    )
    if total >= AMOUNT_LIMIT:
        issues.add(
            (*path, "perUnitCostBasis"), "the price must stay below 10^18 of the smallest unit"
        )
    return Purchase(
        currency=purchase_currency.code,
        cost_basis=terms.cost_basis.normalize(),
        amount=total,
        availability_policy=terms.availability_policy,
        settlement_status=terms.settlement_status,
        payment_reference=terms.payment_reference,
    )


async def _replay_refused(
    runtime: Runtime, actor: Actor, request: GrantRequest, paid: bool
) -> GrantOutcome | None:
    if request.key is None or kind_of(request.customer_id) != "customer":
        return None
    try:
        async with customer_transaction(
            runtime, request.customer_id, actor, new_id("transaction"), request.currency
        ) as frame:
            try:
                replay = await _replay(frame, request.key, _fingerprint(request, paid))
            except KeyConflict:
                return None  # the validation error says more
            if replay is None:
                return None
            return GrantOutcome(replay, await frame.balance(request.currency), True)
    except NotFound:
        return None


def _fingerprint(request: GrantRequest, paid: bool) -> str:
    """The input as values, from the request alone (so a refused retry can be compared)."""
    terms = request.purchase or PurchaseTerms()
    return fingerprint(
        "purchase" if paid else "promotion",
        {
            "name": request.name,
            "description": request.description,
            "labels": label_set(request.labels),
            "currency": request.currency,
            "amount": request.amount,
            "fundingMethod": request.funding_method.value if paid else "NONE",
            "purchase": None
            if not paid
            else {
                "currency": terms.currency or request.currency,
                "perUnitCostBasis": terms.cost_basis,
                "availabilityPolicy": terms.availability_policy.value,
                "settlementStatus": terms.settlement_status.value,
                "paymentReference": terms.payment_reference,
            },
            "priority": request.priority,
            "features": sorted(set(request.features or ())),
            "effectiveAt": request.effective_at,
            "expiresAfter": request.expires_after,
            "expiresAt": request.expires_at,
        },
    )


async def _replay(frame: Frame, key: str | None, print_: str) -> str | None:
    """The grant made earlier with this key and input, or None; KeyConflict on other input."""
    row = None if key is None else await keyed_row(frame, grants, key, print_)
    return None if row is None else str(row.id)


async def check_headroom(frame: Frame, currency: str, amount: int) -> None:
    """Funded plus pending credits of the frame's customer in one currency, with `amount`
    more, stay below 10^18."""
    customer_id = frame.books.customer_id
    funded = select(accounts.c.funded).where(
        accounts.c.customer_id == customer_id, accounts.c.currency == currency
    )
    pending = select(func.coalesce(func.sum(grants.c.amount), 0)).where(
        grants.c.customer_id == customer_id, grants.c.currency == currency, pending_at(frame.now)
    )
    total = (
        await frame.connection.execute(select(funded.scalar_subquery(), pending.scalar_subquery()))
    ).one()
    if int(total[0] or 0) + int(total[1]) + amount >= AMOUNT_LIMIT:
        message = (
            "funded plus pending credits in this currency must stay below 10^18 smallest units"
        )
        raise ValidationFailed([Issue(("input", "amount"), message)])


async def plan_purchase(runtime: Runtime, request: GrantRequest, *, now: datetime) -> Plan:
    """purchaseCredits' checks and the grant they make, for purchases made on a customer's
    behalf (a threshold's top-up): issues under `input` as for purchaseCredits."""
    return await _validate(runtime, request, paid=True, now=now)
