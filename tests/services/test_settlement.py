"""Settling a purchase's payment and voiding a grant (DESIGN §3.3, §3.4, §3.5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.domain.errors import InvalidState, NotFound, ValidationFailed
from app.domain.grants import AvailabilityPolicy, GrantStatus, SettlementStatus
from app.domain.ids import new_id
from app.domain.ledger import OPEN
from app.domain.time import parse_duration
from app.services.consumption import InsufficientCreditsBehavior
from app.services.grants import GrantOutcome, PurchaseTerms
from app.services.runtime import Runtime
from app.services.settlement import settle_credit_purchase, void_credit_grant
from tests.services.support import (
    amounts,
    balance,
    consume,
    fields_of,
    grant_row,
    grant_status,
    ledger,
    promo,
    purchase,
    row_counts,
)

AUTHORIZED = SettlementStatus.AUTHORIZED
SETTLED = SettlementStatus.SETTLED
FAILED = SettlementStatus.FAILED
PENDING = SettlementStatus.PENDING
PARTIAL = InsufficientCreditsBehavior.PARTIAL


def terms(policy: AvailabilityPolicy, status: SettlementStatus = PENDING) -> PurchaseTerms:
    return PurchaseTerms(availability_policy=policy, settlement_status=status)


async def settle(
    runtime: Runtime, grant_id: str, status: SettlementStatus, **fields: Any
) -> GrantOutcome:
    return await settle_credit_purchase(
        runtime, actor=OPEN, grant_id=grant_id, status=status, **fields
    )


async def void(runtime: Runtime, grant_id: str, reason: str | None = None) -> GrantOutcome:
    return await void_credit_grant(runtime, actor=OPEN, grant_id=grant_id, reason=reason)


# ---- settlement moves


async def test_settling_a_purchase_available_on_settlement_funds_it(runtime, make_customer, clock):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )
    clock.advance(timedelta(hours=1))

    outcome = await settle(runtime, grant.grant_id, SETTLED)

    assert (outcome.grant_id, outcome.replayed) == (grant.grant_id, False)
    assert (outcome.balance.available, outcome.balance.pending) == (2000, 0)
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.settlement_status, row.authorized_at, row.settled_at) == (
        "SETTLED",
        clock.now(),
        clock.now(),
    )
    assert (row.funded_at, row.fundable_at) == (clock.now(), clock.now())
    [entry] = await ledger(runtime.engine, customer_id)
    assert (entry.type, entry.amount, entry.booked_at, entry.actor_type) == (
        "FUNDED",
        2000,
        clock.now(),
        "OPEN",
    )


async def test_authorizing_does_not_fund_a_purchase_available_on_settlement(runtime, make_customer):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )

    outcome = await settle(runtime, grant.grant_id, AUTHORIZED)

    assert (outcome.replayed, outcome.balance.available, outcome.balance.pending) == (
        False,
        0,
        2000,
    )
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.PENDING


async def test_authorizing_funds_a_purchase_available_on_authorization(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_AUTHORIZATION)
    )
    clock.advance(timedelta(minutes=5))

    outcome = await settle(runtime, grant.grant_id, AUTHORIZED)

    assert outcome.balance.available == 2000
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.settlement_status, row.authorized_at, row.settled_at) == (
        "AUTHORIZED",
        clock.now(),
        None,
    )


async def test_settling_after_authorizing_keeps_the_authorization_time(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )
    authorized = clock.now()
    await settle(runtime, grant.grant_id, AUTHORIZED)
    clock.advance(timedelta(days=1))

    await settle(runtime, grant.grant_id, SETTLED)

    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.authorized_at, row.settled_at) == (authorized, clock.now())


async def test_a_late_payment_report_records_when_it_happened_but_books_now(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )
    clock.advance(timedelta(days=2))
    happened = clock.now() - timedelta(days=1)

    await settle(runtime, grant.grant_id, SETTLED, occurred_at=happened, payment_reference="wire-9")

    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.settled_at, row.authorized_at, row.payment_reference) == (
        happened,
        happened,
        "wire-9",
    )
    assert row.funded_at == clock.now()
    assert [entry.booked_at for entry in await ledger(runtime.engine, customer_id)] == [clock.now()]
    assert (await balance(runtime, customer_id, at=happened)).available == 0


async def test_repeating_the_current_payment_status_is_a_replay_that_changes_nothing(
    runtime, make_customer, publisher
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )
    await settle(runtime, grant.grant_id, SETTLED)
    counts = await row_counts(runtime.engine)
    before = await grant_row(runtime.engine, grant.grant_id)
    published = len(publisher.published)

    outcome = await settle(runtime, grant.grant_id, SETTLED)

    assert (outcome.replayed, outcome.balance.available) == (True, 2000)
    assert await row_counts(runtime.engine) == counts
    assert await grant_row(runtime.engine, grant.grant_id) == before
    assert len(publisher.published) == published


@pytest.mark.parametrize(
    ("current", "target"),
    [(AUTHORIZED, AUTHORIZED), (SETTLED, SETTLED), (FAILED, FAILED)],
)
async def test_asking_for_the_status_the_payment_already_has_succeeds_as_a_replay(
    runtime, make_customer, current, target
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )
    await settle(runtime, grant.grant_id, current)

    outcome = await settle(runtime, grant.grant_id, target)

    assert outcome.replayed is True


@pytest.mark.parametrize(
    ("current", "target"),
    [(SETTLED, AUTHORIZED), (SETTLED, FAILED), (FAILED, AUTHORIZED), (FAILED, SETTLED)],
)
async def test_a_move_backwards_or_out_of_a_final_status_is_an_invalid_state(
    runtime, make_customer, current, target
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )
    await settle(runtime, grant.grant_id, current)
    counts = await row_counts(runtime.engine)

    with pytest.raises(InvalidState) as raised:
        await settle(runtime, grant.grant_id, target)

    assert raised.value.current_state == current.value
    assert await row_counts(runtime.engine) == counts
    assert (await grant_row(runtime.engine, grant.grant_id)).settlement_status == current.value


async def test_settling_a_promotional_grant_is_an_invalid_state_with_no_payment(
    runtime, make_customer
):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "5")

    with pytest.raises(InvalidState) as raised:
        await settle(runtime, grant.grant_id, SETTLED)

    assert raised.value.current_state == "NO_PAYMENT"


async def test_pending_is_never_a_target_and_is_checked_before_anything_else(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await settle(runtime, "not-an-id", PENDING, payment_reference="")

    assert fields_of(raised.value) == [("input", "status")]


async def test_a_settlement_with_bad_fields_reports_every_issue(runtime, clock):
    with pytest.raises(ValidationFailed) as raised:
        await settle(
            runtime,
            "grt_x",
            SETTLED,
            payment_reference="",
            occurred_at=clock.now() + timedelta(seconds=1),
        )

    assert fields_of(raised.value) == [
        ("input", "grantId"),
        ("input", "paymentReference"),
        ("input", "occurredAt"),
    ]


async def test_settling_an_unknown_grant_is_not_found(runtime, make_customer):
    customer_id = await make_customer()

    for unknown in (new_id("grant"), customer_id):
        with pytest.raises(NotFound) as raised:
            await settle(runtime, unknown, SETTLED)
        assert raised.value.id == unknown


async def test_a_failed_payment_voids_a_funded_grant_with_reason_payment_failed(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await purchase(runtime, customer_id, "20")
    await consume(runtime, customer_id, "5", key="c1")
    clock.advance(timedelta(hours=2))

    outcome = await settle(runtime, grant.grant_id, FAILED)

    assert outcome.replayed is False
    figures = outcome.balance
    assert (figures.available, figures.consumed, figures.voided) == (0, 500, 1500)
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.settlement_status, row.failed_at, row.voided_at, row.void_reason) == (
        "FAILED",
        clock.now(),
        clock.now(),
        "payment failed",
    )
    assert amounts(await ledger(runtime.engine, customer_id)) == [
        ("FUNDED", 2000),
        ("CONSUMED", -500),
        ("VOIDED", -1500),
    ]
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.VOIDED


async def test_a_failed_payment_voids_a_pending_grant_without_an_entry(runtime, make_customer):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )

    outcome = await settle(runtime, grant.grant_id, FAILED)

    assert (outcome.balance.pending, outcome.balance.voided, outcome.balance.sequence) == (0, 0, 0)
    assert await ledger(runtime.engine, customer_id) == []
    assert (await grant_row(runtime.engine, grant.grant_id)).void_reason == "payment failed"
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.VOIDED


async def test_a_failed_payment_leaves_a_depleted_grant_depleted(runtime, make_customer):
    customer_id = await make_customer()
    grant = await purchase(runtime, customer_id, "20")
    await consume(runtime, customer_id, "20", key="c1")

    outcome = await settle(runtime, grant.grant_id, FAILED)

    assert outcome.replayed is False
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.settlement_status, row.voided_at) == ("FAILED", None)
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.DEPLETED


async def test_a_failed_payment_leaves_a_voided_grant_voided_with_its_own_reason(
    runtime, make_customer
):
    customer_id = await make_customer()
    grant = await purchase(runtime, customer_id, "20")
    await void(runtime, grant.grant_id, reason="customer left")

    await settle(runtime, grant.grant_id, FAILED)

    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.settlement_status, row.void_reason) == ("FAILED", "customer left")
    assert amounts(await ledger(runtime.engine, customer_id)) == [
        ("FUNDED", 2000),
        ("VOIDED", -2000),
    ]


async def test_settling_an_expired_pending_grant_moves_the_payment_but_funds_nothing(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime,
        customer_id,
        "20",
        terms=terms(AvailabilityPolicy.ON_SETTLEMENT),
        expires_after=parse_duration("P1D"),
    )
    clock.advance(timedelta(days=2))

    outcome = await settle(runtime, grant.grant_id, SETTLED)

    assert (outcome.replayed, outcome.balance.available, outcome.balance.pending) == (False, 0, 0)
    assert (await grant_row(runtime.engine, grant.grant_id)).settlement_status == "SETTLED"
    assert await ledger(runtime.engine, customer_id) == []
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.EXPIRED


async def test_settling_a_voided_pending_grant_moves_the_payment_but_funds_nothing(
    runtime, make_customer
):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )
    await void(runtime, grant.grant_id)

    outcome = await settle(runtime, grant.grant_id, SETTLED)

    assert (outcome.replayed, outcome.balance.available) == (False, 0)
    assert await ledger(runtime.engine, customer_id) == []


async def test_settling_before_a_future_effective_at_funds_at_effective_at(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    start = clock.now() + timedelta(days=1)
    grant = await purchase(
        runtime,
        customer_id,
        "20",
        terms=terms(AvailabilityPolicy.ON_SETTLEMENT),
        effective_at=start,
    )

    outcome = await settle(runtime, grant.grant_id, SETTLED)

    assert (outcome.balance.available, outcome.balance.pending) == (0, 2000)
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.funded_at, row.next_event_at) == (None, start)


# ---- void


async def test_voiding_an_active_grant_forfeits_what_remains_by_a_voided_entry(
    runtime, make_customer, clock, publisher
):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10")
    consumed = await consume(runtime, customer_id, "3", key="c1")
    clock.advance(timedelta(hours=1))

    outcome = await void(runtime, grant.grant_id, reason="goodwill withdrawn")

    assert outcome.replayed is False
    figures = outcome.balance
    assert (figures.available, figures.funded, figures.consumed, figures.voided) == (
        0,
        1000,
        300,
        700,
    )
    entries = await ledger(runtime.engine, customer_id)
    assert amounts(entries) == [("FUNDED", 1000), ("CONSUMED", -300), ("VOIDED", -700)]
    assert (entries[-1].booked_at, entries[-1].consumption_id) == (clock.now(), None)
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.voided_at, row.void_reason, row.remaining, row.consumed, row.voided) == (
        clock.now(),
        "goodwill withdrawn",
        0,
        300,
        700,
    )
    assert publisher.published[-1].entries[0].type == "VOIDED"
    assert consumed.balance.available == 700


async def test_voiding_a_pending_grant_writes_no_entry_and_ends_its_pending(runtime, make_customer):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "20", terms=terms(AvailabilityPolicy.ON_SETTLEMENT)
    )

    outcome = await void(runtime, grant.grant_id)

    assert (outcome.replayed, outcome.balance.pending, outcome.balance.sequence) == (False, 0, 0)
    assert await ledger(runtime.engine, customer_id) == []
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.VOIDED
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.settlement_status, row.next_event_at) == ("PENDING", None)


async def test_a_voided_future_grant_is_never_funded(runtime, make_customer, clock):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "5", effective_at=clock.now() + timedelta(days=1))
    await void(runtime, grant.grant_id)
    clock.advance(timedelta(days=2))

    await consume(runtime, customer_id, "1", key="c", on_insufficient=PARTIAL)

    assert await ledger(runtime.engine, customer_id) == []


async def test_voiding_a_voided_grant_is_a_replay_that_writes_nothing(runtime, make_customer):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10")
    await void(runtime, grant.grant_id)
    counts = await row_counts(runtime.engine)

    outcome = await void(runtime, grant.grant_id, reason="again")

    assert outcome.replayed is True
    assert await row_counts(runtime.engine) == counts
    assert (await grant_row(runtime.engine, grant.grant_id)).void_reason is None


async def test_voiding_a_depleted_grant_is_an_invalid_state(runtime, make_customer):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10")
    await consume(runtime, customer_id, "10", key="c1")

    with pytest.raises(InvalidState) as raised:
        await void(runtime, grant.grant_id)

    assert raised.value.current_state == "DEPLETED"


async def test_voiding_an_expired_grant_is_an_invalid_state(runtime, make_customer, clock):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10", expires_after=parse_duration("PT1H"))
    clock.advance(timedelta(hours=1))
    counts = await row_counts(runtime.engine)

    with pytest.raises(InvalidState) as raised:
        await void(runtime, grant.grant_id)

    assert raised.value.current_state == "EXPIRED"
    assert await row_counts(runtime.engine) == counts


async def test_voiding_does_not_change_the_payment(runtime, make_customer):
    customer_id = await make_customer()
    grant = await purchase(
        runtime, customer_id, "10", terms=terms(AvailabilityPolicy.ON_CREATION, AUTHORIZED)
    )

    await void(runtime, grant.grant_id)

    assert (await grant_row(runtime.engine, grant.grant_id)).settlement_status == "AUTHORIZED"


async def test_voiding_with_a_malformed_id_or_long_reason_reports_both(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await void(runtime, "grant-1", reason="r" * 1025)

    assert fields_of(raised.value) == [("input", "grantId"), ("input", "reason")]


async def test_voiding_an_unknown_grant_is_not_found(runtime):
    unknown = new_id("grant")

    with pytest.raises(NotFound) as raised:
        await void(runtime, unknown)

    assert raised.value.id == unknown
