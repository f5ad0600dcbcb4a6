"""Reversing consumptions (DESIGN §4), with keys (§7)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.errors import KeyConflict, NotFound, ValidationFailed
from app.domain.grants import GrantStatus
from app.domain.ids import new_id
from app.domain.ledger import OPEN
from app.domain.time import parse_duration
from app.services.consumption import InsufficientCreditsBehavior
from app.services.reversal import ReversalOutcome, reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.settlement import void_credit_grant
from app.services.verify import verify
from tests.services.support import (
    D,
    balance,
    consume,
    consumption_row,
    fields_of,
    grant_row,
    grant_status,
    ledger,
    promo,
    row_counts,
)


async def reverse(
    runtime: Runtime,
    consumption_id: str,
    key: str,
    amount: str | None = None,
    reason: str | None = None,
) -> ReversalOutcome:
    return await reverse_credit_consumption(
        runtime,
        actor=OPEN,
        consumption_id=consumption_id,
        key=key,
        amount=None if amount is None else D(amount),
        reason=reason,
    )


async def two_grant_consumption(runtime: Runtime, customer_id: str) -> tuple[str, str, str]:
    """3.00 drawn from a priority-1 grant, then 2.00 from a priority-2 grant."""
    first = await promo(runtime, customer_id, "3", priority=1)
    second = await promo(runtime, customer_id, "10", priority=2)
    consumption = await consume(runtime, customer_id, "5", key="c", feature_key="api")
    return first.grant_id, second.grant_id, consumption.consumption_id


async def restored(runtime: Runtime, customer_id: str) -> list[tuple[str, str, int]]:
    return [
        (entry.grant_id, entry.type, entry.amount)
        for entry in await ledger(runtime.engine, customer_id)
        if entry.type in ("RESTORED", "VOIDED", "EXPIRED")
    ]


async def test_reversing_everything_restores_each_grant_in_reverse_burn_order(
    runtime, make_customer
):
    customer_id = await make_customer()
    first, second, consumption_id = await two_grant_consumption(runtime, customer_id)

    outcome = await reverse(runtime, consumption_id, "r1", reason="refund")

    assert (outcome.consumption_id, outcome.replayed) == (consumption_id, False)
    entries = await ledger(runtime.engine, customer_id)
    assert [(e.sequence, e.grant_id, e.type, e.amount) for e in entries[-2:]] == [
        (5, second, "RESTORED", 200),
        (6, first, "RESTORED", 300),
    ]
    assert outcome.entry_ids == [e.id for e in entries[-2:]]
    assert {(e.consumption_id, e.feature_key, e.description) for e in entries[-2:]} == {
        (consumption_id, "api", "refund")
    }
    figures = outcome.balance
    assert (figures.available, figures.consumed, figures.funded) == (1300, 0, 1300)
    row = await consumption_row(runtime.engine, consumption_id)
    assert (row.consumed, row.reversed) == (500, 500)
    assert await grant_status(runtime, first) is GrantStatus.ACTIVE
    assert await verify(runtime.engine) == []


async def test_partial_reversals_give_back_from_the_last_grant_drawn_first(runtime, make_customer):
    customer_id = await make_customer()
    first, second, consumption_id = await two_grant_consumption(runtime, customer_id)

    await reverse(runtime, consumption_id, "r1", amount="1")
    await reverse(runtime, consumption_id, "r2", amount="2.00")
    last = await reverse(runtime, consumption_id, "r3")

    assert await restored(runtime, customer_id) == [
        (second, "RESTORED", 100),
        (second, "RESTORED", 100),
        (first, "RESTORED", 100),
        (first, "RESTORED", 200),
    ]
    assert (last.balance.available, last.balance.consumed) == (1300, 0)
    assert (await consumption_row(runtime.engine, consumption_id)).reversed == 500


async def test_reversing_more_than_remains_is_refused_on_amount_and_writes_nothing(
    runtime, make_customer
):
    customer_id = await make_customer()
    _, _, consumption_id = await two_grant_consumption(runtime, customer_id)
    await reverse(runtime, consumption_id, "r1", amount="4")
    counts = await row_counts(runtime.engine)

    with pytest.raises(ValidationFailed) as raised:
        await reverse(runtime, consumption_id, "r2", amount="1.01")

    assert fields_of(raised.value) == [("input", "amount")]
    assert await row_counts(runtime.engine) == counts


async def test_reversing_a_fully_reversed_consumption_is_refused_on_amount(runtime, make_customer):
    customer_id = await make_customer()
    _, _, consumption_id = await two_grant_consumption(runtime, customer_id)
    await reverse(runtime, consumption_id, "r1")

    with pytest.raises(ValidationFailed) as raised:
        await reverse(runtime, consumption_id, "r2")

    assert fields_of(raised.value) == [("input", "amount")]


async def test_reversing_a_consumption_that_drew_nothing_is_refused_on_amount(
    runtime, make_customer
):
    customer_id = await make_customer()
    nothing = await consume(
        runtime, customer_id, "1", key="c", on_insufficient=InsufficientCreditsBehavior.PARTIAL
    )

    with pytest.raises(ValidationFailed) as raised:
        await reverse(runtime, nothing.consumption_id, "r1")

    assert fields_of(raised.value) == [("input", "amount")]


@pytest.mark.parametrize("amount", ["0", "-1", "0.001"])
async def test_a_reversal_amount_must_be_positive_and_within_scale(runtime, make_customer, amount):
    customer_id = await make_customer()
    _, _, consumption_id = await two_grant_consumption(runtime, customer_id)

    with pytest.raises(ValidationFailed) as raised:
        await reverse(runtime, consumption_id, "r1", amount=amount)

    assert fields_of(raised.value) == [("input", "amount")]


async def test_a_reversal_with_bad_fields_reports_every_issue(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await reverse(runtime, "csm_1", "", reason="r" * 1025)

    assert fields_of(raised.value) == [
        ("input", "consumptionId"),
        ("input", "key"),
        ("input", "reason"),
    ]


@pytest.mark.parametrize("kind", ["consumption", "grant"])
async def test_reversing_an_unknown_consumption_is_not_found(runtime, kind):
    unknown = new_id(kind)

    with pytest.raises(NotFound) as raised:
        await reverse(runtime, unknown, "r1")

    assert raised.value.id == unknown


async def test_credits_restored_to_a_voided_grant_are_forfeited_at_once(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10")
    consumption = await consume(runtime, customer_id, "4", key="c")
    await void_credit_grant(runtime, actor=OPEN, grant_id=grant.grant_id)
    clock.advance(timedelta(hours=1))

    outcome = await reverse(runtime, consumption.consumption_id, "r1", amount="1.5")

    entries = await ledger(runtime.engine, customer_id)
    assert [(e.type, e.amount, e.balance_after) for e in entries] == [
        ("FUNDED", 1000, 1000),
        ("CONSUMED", -400, 600),
        ("VOIDED", -600, 0),
        ("RESTORED", 150, 150),
        ("VOIDED", -150, 0),
    ]
    assert entries[-1].transaction_id == entries[-2].transaction_id
    assert outcome.entry_ids == [entries[-2].id, entries[-1].id]
    figures = outcome.balance
    assert (figures.available, figures.consumed, figures.voided) == (0, 250, 750)
    row = await grant_row(runtime.engine, grant.grant_id)
    assert (row.remaining, row.consumed, row.voided) == (0, 250, 750)
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.VOIDED
    assert await verify(runtime.engine) == []


async def test_credits_restored_to_an_expired_grant_are_forfeited_at_once(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10", expires_after=parse_duration("P1D"))
    consumption = await consume(runtime, customer_id, "10", key="c")
    clock.advance(timedelta(days=2))

    outcome = await reverse(runtime, consumption.consumption_id, "r1", amount="3")

    assert [(e.type, e.amount, e.booked_at) for e in await ledger(runtime.engine, customer_id)][
        -2:
    ] == [
        ("RESTORED", 300, clock.now()),
        ("EXPIRED", -300, clock.now()),
    ]
    figures = outcome.balance
    assert (figures.available, figures.consumed, figures.expired) == (0, 700, 300)
    assert await grant_status(runtime, grant.grant_id) is GrantStatus.EXPIRED
    assert await verify(runtime.engine) == []


async def test_a_reversal_after_an_expiry_books_the_expiry_first(runtime, make_customer, clock):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10", expires_after=parse_duration("P1D"))
    consumption = await consume(runtime, customer_id, "4", key="c")
    clock.advance(timedelta(days=2))

    await reverse(runtime, consumption.consumption_id, "r1")

    row = await grant_row(runtime.engine, grant.grant_id)
    assert [
        (e.type, e.amount, e.actor_type) for e in await ledger(runtime.engine, customer_id)
    ] == [
        ("FUNDED", 1000, "OPEN"),
        ("CONSUMED", -400, "OPEN"),
        ("EXPIRED", -600, "SYSTEM"),
        ("RESTORED", 400, "OPEN"),
        ("EXPIRED", -400, "OPEN"),
    ]
    assert (row.expired, row.remaining) == (1000, 0)


# ---- keys


async def test_a_reversal_repeated_with_the_same_input_replays_the_first(runtime, make_customer):
    customer_id = await make_customer()
    _, _, consumption_id = await two_grant_consumption(runtime, customer_id)
    first = await reverse(runtime, consumption_id, "r1", amount="2.50", reason="refund")
    counts = await row_counts(runtime.engine)

    again = await reverse(runtime, consumption_id, "r1", amount="2.5", reason="refund")

    assert (again.entry_ids, again.replayed) == (first.entry_ids, True)
    assert again.balance == first.balance
    assert await row_counts(runtime.engine) == counts


@pytest.mark.parametrize("change", [{"amount": "1"}, {"reason": "other"}, {"amount": None}])
async def test_the_same_reversal_key_with_another_input_is_a_key_conflict(
    runtime, make_customer, change
):
    customer_id = await make_customer()
    _, _, consumption_id = await two_grant_consumption(runtime, customer_id)
    await reverse(runtime, consumption_id, "r1", amount="2", reason="refund")
    fields = {"amount": "2", "reason": "refund"} | change

    with pytest.raises(KeyConflict) as raised:
        await reverse(runtime, consumption_id, "r1", **fields)

    assert raised.value.key == "r1"


async def test_a_reversal_key_used_for_another_consumption_is_a_key_conflict(
    runtime, make_customer
):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    one = await consume(runtime, customer_id, "1", key="c1")
    two = await consume(runtime, customer_id, "1", key="c2")
    await reverse(runtime, one.consumption_id, "r")

    with pytest.raises(KeyConflict):
        await reverse(runtime, two.consumption_id, "r")


async def test_a_refused_reversal_does_not_use_up_its_key(runtime, make_customer):
    customer_id = await make_customer()
    _, _, consumption_id = await two_grant_consumption(runtime, customer_id)
    with pytest.raises(ValidationFailed):
        await reverse(runtime, consumption_id, "r1", amount="6")

    outcome = await reverse(runtime, consumption_id, "r1", amount="5")

    assert outcome.replayed is False
    assert (await balance(runtime, customer_id)).consumed == 0
