"""Consuming credits in burn order (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from app.domain.balances import Balance
from app.domain.errors import InsufficientCredits, Issues
from app.domain.grants import Grant, GrantStatus
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
from app.storage.tables import consumptions
from app.storage.writes import insert_unless_keyed, spendable_grant_rows

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
    async with customer_transaction(
        runtime, request.customer_id, actor, new_id("transaction"), currency.code
    ) as frame:
        loaded = await spendable_grants(frame, currency.code)
        pending = sum(grant.amount for grant in loaded if grant.pending_at(frame.now))
        eligible = eligible_grants(loaded, frame.now, request.feature_key)
        available = sum(grant.remaining for grant in eligible)
        if available < amount and request.on_insufficient is InsufficientCreditsBehavior.REJECT:
            # a retry of a consumption made while there was enough still replays it
            consumption_id = await _replay(frame, request.key, print_)
            if consumption_id is None:
                raise InsufficientCredits(
                    currency.code,
                    from_minor(amount, currency.scale),
                    from_minor(available, currency.scale),
                )
            replayed = True
        else:
            draws = allocate(eligible, amount)
            consumption_id, replayed = await _record(
                frame, request, print_, currency=currency.code, amount=amount, draws=draws
            )
        balance = await frame.balance(currency.code, pending)
        return ConsumptionOutcome(consumption_id, balance, replayed)


async def _record(
    frame: Frame,
    request: ConsumeRequest,
    print_: str,
    *,
    currency: str,
    amount: int,
    draws: list[tuple[Grant, int]],
) -> tuple[str, bool]:
    """Insert the consumption and book its draws: its id and False; or, if the key was
    used before, that consumption's id and True (KeyConflict if its input differed)."""
    consumption_id = new_id("consumption")
    consumed = sum(take for _, take in draws)
    values = {
        "id": consumption_id,
        "customer_id": request.customer_id,
        "key": request.key,
        "fingerprint": print_,
        "currency": currency,
        "feature_key": request.feature_key,
        "description": request.description,
        "labels": labels_column(request.labels),
        "requested": amount,
        "consumed": consumed,
        "shortfall": amount - consumed,
        "reversed": 0,
        "transaction_id": frame.booking.transaction_id,
        "created_at": frame.now,
    }
    if not await insert_unless_keyed(frame.connection, consumptions, values):
        replayed = await _replay(frame, request.key, print_)
        assert replayed is not None  # the customer is locked: the row is still there
        return replayed, True
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
    return consumption_id, False


async def spendable_grants(frame: Frame, currency: str) -> list[Grant]:
    """The customer's grants in the currency that may be drawn from, and those pending
    now (for the result balance): one statement."""
    books = frame.books
    rows = await spendable_grant_rows(frame.connection, books.customer_id, currency, frame.now)
    return books.keep_grants(rows)


def eligible_grants(loaded: list[Grant], now: datetime, feature_key: str | None) -> list[Grant]:
    """ACTIVE grants that can pay for the feature, in burn order."""
    eligible = [
        grant
        for grant in loaded
        if grant.remaining > 0
        and grant.voided_at is None
        and grant.status(now) is GrantStatus.ACTIVE
        and grant.can_pay_for(feature_key)
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
