"""Consuming credits in burn order (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import insert

from app.domain.balances import Balance
from app.domain.errors import InsufficientCredits, Issues
from app.domain.grants import Grant
from app.domain.ids import new_id
from app.domain.ledger import Actor, EntryType, allocate
from app.domain.money import amount_problem, from_minor, to_minor
from app.domain.validation import check_feature_key, check_labels, check_text
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
from app.storage.tables import consumptions, grants

Labels = tuple[tuple[str, str], ...]


class InsufficientCreditsBehavior(StrEnum):
    REJECT = "REJECT"
    PARTIAL = "PARTIAL"


@dataclass(frozen=True)
class ConsumeRequest:
    customer_id: str
    key: str
    currency: str
    amount: Decimal
    feature_key: str | None = None
    description: str | None = None
    labels: Labels | None = None
    on_insufficient: InsufficientCreditsBehavior = InsufficientCreditsBehavior.REJECT


@dataclass(frozen=True)
class ConsumptionOutcome:
    consumption_id: str
    balance: Balance
    replayed: bool


async def consume_credits(
    runtime: Runtime, *, actor: Actor, request: ConsumeRequest
) -> ConsumptionOutcome:
    issues = Issues()
    check_id(issues, ("input", "customerId"), request.customer_id)
    check_key(issues, ("input", "key"), request.key)
    currency = await known_currency(runtime, issues, ("input", "currency"), request.currency)
    problem = amount_problem(request.amount, currency) if currency else None
    if problem:
        issues.add(("input", "amount"), problem)
    check_feature_key(issues, ("input", "featureKey"), request.feature_key)
    check_text(issues, ("input", "description"), request.description, low=0, high=1024, lines=True)
    check_labels(issues, ("input", "labels"), request.labels)
    issues.raise_any()
    assert currency is not None
    amount = to_minor(request.amount, currency.scale)
    print_ = _fingerprint(request)
    transaction_id = new_id("transaction")
    async with customer_transaction(runtime, request.customer_id, actor, transaction_id) as frame:
        replayed = await _replay(frame, request.key, print_)
        if replayed is not None:
            return ConsumptionOutcome(replayed, await frame.balance(currency.code), True)
        eligible = await eligible_grants(frame, currency.code, request.feature_key)
        available = sum(grant.remaining for grant in eligible)
        if available < amount and request.on_insufficient is InsufficientCreditsBehavior.REJECT:
            raise InsufficientCredits(
                currency.code,
                from_minor(amount, currency.scale),
                from_minor(available, currency.scale),
            )
        consumption_id = new_id("consumption")
        draws = allocate(eligible, amount)
        consumed = sum(take for _, take in draws)
        await frame.connection.execute(
            insert(consumptions).values(
                id=consumption_id,
                customer_id=request.customer_id,
                key=request.key,
                fingerprint=print_,
                currency=currency.code,
                feature_key=request.feature_key,
                description=request.description,
                labels=labels_column(request.labels),
                requested=amount,
                consumed=consumed,
                shortfall=amount - consumed,
                reversed=0,
                transaction_id=transaction_id,
                created_at=frame.now,
            )
        )
        for grant, take in draws:
            await frame.books.book(
                grant,
                EntryType.CONSUMED,
                grant.consume(take),
                frame.booking,
                consumption_id=consumption_id,
                feature_key=request.feature_key,
                description=request.description,
                labels=request.labels or (),
            )
        return ConsumptionOutcome(consumption_id, await frame.balance(currency.code), False)


async def eligible_grants(frame: Frame, currency: str, feature_key: str | None) -> list[Grant]:
    """ACTIVE grants in the currency that can pay for the feature, in burn order."""
    candidates = await frame.books.load_grants(
        grants.c.currency == currency,
        grants.c.remaining > 0,
        grants.c.voided_at.is_(None),
    )
    eligible = [
        grant
        for grant in candidates
        if grant.status(frame.now).value == "ACTIVE" and grant.can_pay_for(feature_key)
    ]
    return sorted(eligible, key=Grant.burn_key)


def _fingerprint(request: ConsumeRequest) -> str:
    return fingerprint(
        "consumption",
        {
            "currency": request.currency,
            "amount": request.amount,
            "featureKey": request.feature_key,
            "description": request.description,
            "labels": label_set(request.labels),
            "onInsufficient": request.on_insufficient.value,
        },
    )


async def _replay(frame: Frame, key: str, print_: str) -> str | None:
    row = await keyed_row(frame, consumptions, key, print_)
    return None if row is None else str(row.id)
