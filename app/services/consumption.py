"""Consuming credits in burn order (docs/concepts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from app.domain.balances import Balance
from app.domain.errors import InsufficientCredits, Issues, NotFound, Path
from app.domain.events import Change
from app.domain.grants import Grant, GrantStatus
from app.domain.ids import new_id
from app.domain.ledger import Actor, EntryType, allocate
from app.domain.money import Currency, amount_problem, from_minor, to_minor
from app.domain.validation import check_feature_key, check_labels, check_text
from app.domain.webhooks import EventType
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
from app.services.scheduling import book_due_events_of
from app.storage.engine import read_connection
from app.storage.mapping import entry_values, grant_from_row
from app.storage.tables import consumptions
from app.storage.writes import customer_state, insert_unless_keyed, spendable_grant_rows

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
    currency = await check_draw(runtime, issues, ("input",), request)
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
        plan = plan_draws(loaded, frame.now, amount, request)
        if plan.rejected:
            # a retry of a consumption made while there was enough still replays it
            consumption_id = await _replay(frame, request.key, print_)
            if consumption_id is None:
                raise InsufficientCredits(
                    currency.code,
                    from_minor(amount, currency.scale),
                    from_minor(plan.available, currency.scale),
                )
            replayed = True
        else:
            consumption_id, replayed = await _record(
                frame, request, print_, currency=currency.code, amount=amount, draws=plan.draws
            )
        balance = await frame.balance(currency.code, plan.pending)
        return ConsumptionOutcome(consumption_id, balance, replayed)


class DrawRequest(Protocol):
    """What decides a consumption's draws: consumeCredits' input, or its preview's."""

    @property
    def currency(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def feature_key(self) -> str | None: ...
    @property
    def on_insufficient(self) -> InsufficientCreditsBehavior: ...


async def check_draw(
    runtime: Runtime, issues: Issues, prefix: Path, request: DrawRequest
) -> Currency | None:
    """The checks of currency, amount and featureKey, under `prefix` (`input` or none)."""
    currency = await known_currency(runtime, issues, (*prefix, "currency"), request.currency)
    problem = amount_problem(request.amount, currency) if currency else None
    if problem:
        issues.add((*prefix, "amount"), problem)
    check_feature_key(issues, (*prefix, "featureKey"), request.feature_key)
    return currency


@dataclass(frozen=True)
class Plan:
    """What drawing `requested` takes now, in burn order (docs/concepts.md): the one decision
    consumeCredits books and previewCreditConsumption shows."""

    requested: int
    available: int  # the eligible credits: ACTIVE, in the currency, able to pay
    draws: list[tuple[Grant, int]]  # empty when rejected
    pending: int  # the currency's pending credits, for the result balance
    rejected: bool  # REJECT and too few credits: nothing is drawn

    @property
    def consumed(self) -> int:
        return sum(take for _, take in self.draws)

    @property
    def shortfall(self) -> int:
        """What the eligible credits lack, under either behavior."""
        return max(0, self.requested - self.available)


def plan_draws(loaded: list[Grant], now: datetime, amount: int, request: DrawRequest) -> Plan:
    """`loaded`: the customer's spendable and pending grants in the currency, at `now`,
    with every event due by then booked."""
    pending = sum(grant.amount for grant in loaded if grant.pending_at(now))
    eligible = eligible_grants(loaded, now, request.feature_key)
    available = sum(grant.remaining for grant in eligible)
    if available < amount and request.on_insufficient is InsufficientCreditsBehavior.REJECT:
        return Plan(amount, available, [], pending, rejected=True)
    return Plan(amount, available, allocate(eligible, amount), pending, rejected=False)


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
    booked = []
    for grant, take in draws:
        entry = await frame.books.book(
            grant,
            EntryType.CONSUMED,
            grant.consume(take),
            frame.booking,
            consumption_id=consumption_id,
            feature_key=request.feature_key,
            description=request.description,
            labels=request.labels or (),
        )
        booked.append(entry_values(entry))
    change = Change(EventType.CREDIT_CONSUMPTION_CREATED, consumption_id, values, tuple(booked))
    frame.books.note(change)
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


# ------------------------------------------------------------ preview (docs/preview.md)


@dataclass(frozen=True)
class PreviewRequest:
    customer_id: str
    currency: str
    amount: Decimal
    feature_key: str | None = None
    on_insufficient: InsufficientCreditsBehavior = InsufficientCreditsBehavior.REJECT


@dataclass(frozen=True)
class Preview:
    plan: Plan
    scale: int
    available_before: int  # the balance's available with the request's featureKey
    at: datetime

    @property
    def available_after(self) -> int:
        return self.available_before - self.plan.consumed


async def preview_consumption(
    runtime: Runtime, request: PreviewRequest, *, scope: str | None = None
) -> Preview:
    """What consume_credits with these arguments would draw now, writing nothing of its
    own: the same checks (on argument names, not under `input`), the same grants and the
    same plan. It takes no key, so it answers for a new consumption, never a replay.
    `scope`: a portal token's customer; any other is NotFound, like an unknown one."""
    issues = Issues()
    check_id(issues, ("customerId",), request.customer_id)
    currency = await check_draw(runtime, issues, (), request)
    issues.raise_any()
    if scope not in (None, request.customer_id):
        raise NotFound("Customer", request.customer_id)
    assert currency is not None
    amount = to_minor(request.amount, currency.scale)
    loaded, now = await _grants_now(runtime, request.customer_id, currency.code)
    plan = plan_draws(loaded, now, amount, request)
    before = sum(
        grant.remaining
        for grant in loaded
        if grant.status(now) is GrantStatus.ACTIVE
        and (request.feature_key is None or grant.can_pay_for(request.feature_key))
    )
    return Preview(plan, currency.scale, before, now)


async def _grants_now(
    runtime: Runtime, customer_id: str, currency: str
) -> tuple[list[Grant], datetime]:
    """The grants a consumption would load, at the instant it would take (never before the
    customer's last entry). Events due by then are booked first, as every read of the
    customer does (docs/concepts.md, the ledger), by the writes' own catch-up in a
    transaction of its own; with nothing due, two reads and no lock."""
    now = runtime.clock.now()
    for attempt in (1, 2):
        async with read_connection(runtime.engine) as connection:
            state = await customer_state(connection, customer_id, None)
            if state is None:
                raise NotFound("Customer", customer_id)
            if state.last_booked is not None and state.last_booked > now:
                now = state.last_booked
            due = state.next_event is not None and state.next_event <= now
            if not due or attempt == 2:  # a second pass only if the clock stepped back
                rows = await spendable_grant_rows(connection, customer_id, currency, now)
                return [grant_from_row(row) for row in rows], now
        await book_due_events_of(runtime, [customer_id])
    raise AssertionError("unreachable")
