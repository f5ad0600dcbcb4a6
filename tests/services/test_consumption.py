"""Consuming credits in burn order (DESIGN §4), with keys (§7) and catch-up (§5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.errors import InsufficientCredits, KeyConflict, NotFound, ValidationFailed
from app.domain.grants import AvailabilityPolicy, GrantStatus
from app.domain.ids import new_id
from app.domain.time import parse_duration
from app.services.consumption import InsufficientCreditsBehavior
from app.services.grants import PurchaseTerms
from tests.services.support import (
    D,
    balance,
    consume,
    consumption_row,
    fields_of,
    grant_status,
    ledger,
    promo,
    purchase,
    row_counts,
)

PARTIAL = InsufficientCreditsBehavior.PARTIAL
REJECT = InsufficientCreditsBehavior.REJECT
ON_SETTLEMENT = PurchaseTerms(availability_policy=AvailabilityPolicy.ON_SETTLEMENT)


async def test_a_consumption_draws_one_entry_from_one_grant(runtime, make_customer, clock):
    customer_id = await make_customer()
    grant = await promo(runtime, customer_id, "10")

    outcome = await consume(
        runtime, customer_id, "2.50", key="call-1", description="batch", labels=(("job", "7"),)
    )

    assert outcome.replayed is False
    assert outcome.consumption_id.startswith("csm_")
    figures = outcome.balance
    assert (figures.available, figures.consumed, figures.funded, figures.sequence) == (
        750,
        250,
        1000,
        2,
    )
    entry = (await ledger(runtime.engine, customer_id))[-1]
    assert (entry.type, entry.amount, entry.balance_before, entry.balance_after) == (
        "CONSUMED",
        -250,
        1000,
        750,
    )
    assert (entry.grant_id, entry.consumption_id) == (grant.grant_id, outcome.consumption_id)
    assert (entry.description, entry.labels, entry.booked_at) == (
        "batch",
        [["job", "7"]],
        clock.now(),
    )
    row = await consumption_row(runtime.engine, outcome.consumption_id)
    assert (row.requested, row.consumed, row.shortfall, row.reversed) == (250, 250, 0, 0)


async def test_grants_are_drawn_in_burn_order(runtime, make_customer, clock):
    customer_id = await make_customer()
    past = clock.now() - timedelta(days=3)
    unrestricted_late = await purchase(
        runtime, customer_id, "1", effective_at=past + timedelta(days=1)
    )
    cheap = await purchase(runtime, customer_id, "1", terms=PurchaseTerms(cost_basis=D("0.5")))
    free = await promo(runtime, customer_id, "1")
    expires_later = await promo(runtime, customer_id, "1", expires_after=parse_duration("P2D"))
    expires_sooner = await promo(runtime, customer_id, "1", expires_after=parse_duration("P1D"))
    restricted = await promo(runtime, customer_id, "1", features=("api",))
    first_priority = await promo(runtime, customer_id, "1", priority=5)
    unrestricted_early = await purchase(runtime, customer_id, "1", effective_at=past)
    created_first = await purchase(runtime, customer_id, "1", effective_at=past + timedelta(days=2))
    clock.advance(timedelta(seconds=1))
    created_second = await purchase(
        runtime, customer_id, "1", effective_at=past + timedelta(days=2)
    )

    outcome = await consume(runtime, customer_id, "10", key="all", feature_key="api")

    drawn = [
        entry.grant_id
        for entry in await ledger(runtime.engine, customer_id)
        if entry.consumption_id == outcome.consumption_id
    ]
    assert drawn == [
        first_priority.grant_id,
        restricted.grant_id,
        expires_sooner.grant_id,
        expires_later.grant_id,
        free.grant_id,
        cheap.grant_id,
        unrestricted_early.grant_id,
        unrestricted_late.grant_id,
        created_first.grant_id,
        created_second.grant_id,
    ]


async def test_a_large_consumption_splits_across_grants_in_one_transaction(runtime, make_customer):
    customer_id = await make_customer()
    first = await promo(runtime, customer_id, "3", priority=1)
    second = await promo(runtime, customer_id, "5", priority=2)

    outcome = await consume(runtime, customer_id, "4", key="c")

    drawn = [e for e in await ledger(runtime.engine, customer_id) if e.consumption_id]
    assert [(e.grant_id, e.amount, e.sequence) for e in drawn] == [
        (first.grant_id, -300, 3),
        (second.grant_id, -100, 4),
    ]
    assert len({e.transaction_id for e in drawn}) == 1
    assert await grant_status(runtime, first.grant_id) is GrantStatus.DEPLETED
    assert outcome.balance.available == 400


async def test_restricted_grants_pay_only_for_their_features(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "5", features=("api",))
    await promo(runtime, customer_id, "2")

    with pytest.raises(InsufficientCredits) as without_feature:
        await consume(runtime, customer_id, "3", key="c1")
    with pytest.raises(InsufficientCredits) as other_feature:
        await consume(runtime, customer_id, "3", key="c2", feature_key="storage")
    outcome = await consume(runtime, customer_id, "6", key="c3", feature_key="api")

    assert without_feature.value.available == D("2")
    assert other_feature.value.available == D("2")
    assert outcome.balance.available == 100


async def test_rejected_consumption_reports_the_eligible_amount_and_writes_nothing(
    runtime, make_customer, publisher
):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    await promo(runtime, customer_id, "5", features=("api",))
    await purchase(runtime, customer_id, "50", terms=ON_SETTLEMENT)
    counts = await row_counts(runtime.engine)
    published = len(publisher.published)

    with pytest.raises(InsufficientCredits) as raised:
        await consume(runtime, customer_id, "10.01", key="c1")

    error = raised.value
    assert (error.currency, error.requested, error.available) == ("USD", D("10.01"), D("10.00"))
    assert str(error.available) == "10.00"
    assert await row_counts(runtime.engine) == counts
    assert len(publisher.published) == published


async def test_rejected_consumption_with_a_feature_counts_its_restricted_grants(
    runtime, make_customer
):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    await promo(runtime, customer_id, "5", features=("api",))

    with pytest.raises(InsufficientCredits) as raised:
        await consume(
            runtime, customer_id, "16", key="c1", feature_key="api", on_insufficient=REJECT
        )

    assert raised.value.available == D("15")


async def test_partial_consumption_takes_everything_eligible_and_reports_the_shortfall(
    runtime, make_customer
):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "3")
    await promo(runtime, customer_id, "2", features=("api",))

    outcome = await consume(runtime, customer_id, "4.25", key="c1", on_insufficient=PARTIAL)

    row = await consumption_row(runtime.engine, outcome.consumption_id)
    assert (row.requested, row.consumed, row.shortfall) == (425, 300, 125)
    assert (outcome.balance.available, outcome.balance.consumed) == (200, 300)
    assert (await balance(runtime, customer_id, feature_key="api")).available == 200


async def test_partial_consumption_with_nothing_eligible_records_a_full_shortfall(
    runtime, make_customer
):
    customer_id = await make_customer()

    outcome = await consume(runtime, customer_id, "1", key="c1", on_insufficient=PARTIAL)

    row = await consumption_row(runtime.engine, outcome.consumption_id)
    assert (row.requested, row.consumed, row.shortfall) == (100, 0, 100)
    assert await ledger(runtime.engine, customer_id) == []


async def test_pending_voided_and_expired_grants_are_not_eligible(runtime, make_customer, clock):
    customer_id = await make_customer()
    await purchase(runtime, customer_id, "5", terms=ON_SETTLEMENT)
    await promo(runtime, customer_id, "5", effective_at=clock.now() + timedelta(hours=1))
    await promo(runtime, customer_id, "5", expires_after=parse_duration("PT1M"))
    clock.advance(timedelta(minutes=1))

    with pytest.raises(InsufficientCredits) as raised:
        await consume(runtime, customer_id, "1", key="c1")

    assert raised.value.available == D("0")


async def test_a_consumption_is_exact_in_a_currency_without_minor_units(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "1000", "JPY")

    outcome = await consume(runtime, customer_id, "999", key="c1", currency="JPY")
    with pytest.raises(ValidationFailed) as raised:
        await consume(runtime, customer_id, "0.5", key="c2", currency="JPY")

    assert outcome.balance.available == 1
    assert fields_of(raised.value) == [("input", "amount")]


async def test_an_invalid_consumption_reports_every_issue_at_once(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await consume(
            runtime,
            "customer",
            "0",
            key="",
            feature_key="Api",
            description="d" * 1025,
            labels=(("x", "1"), ("x", "2")),
        )

    assert fields_of(raised.value) == [
        ("input", "customerId"),
        ("input", "key"),
        ("input", "amount"),
        ("input", "featureKey"),
        ("input", "description"),
        ("input", "labels", "1", "key"),
    ]


async def test_consuming_an_unknown_currency_is_refused_on_currency(runtime, make_customer):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await consume(runtime, customer_id, "1", key="c", currency="MISSING")

    assert fields_of(raised.value) == [("input", "currency")]


async def test_consuming_for_an_unknown_customer_is_not_found(runtime):
    unknown = new_id("customer")

    with pytest.raises(NotFound) as raised:
        await consume(runtime, unknown, "1", key="c")

    assert raised.value.id == unknown


# ---- keys


async def test_a_consumption_repeated_with_the_same_input_replays_the_first(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    first = await consume(runtime, customer_id, "1.50", key="c", labels=(("a", "1"), ("b", "2")))
    counts = await row_counts(runtime.engine)

    again = await consume(
        runtime,
        customer_id,
        "1.5",
        key="c",
        labels=(("b", "2"), ("a", "1")),
        on_insufficient=REJECT,
    )

    assert (again.consumption_id, again.replayed) == (first.consumption_id, True)
    assert again.balance.available == 850
    assert await row_counts(runtime.engine) == counts


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "1.51"},
        {"feature_key": "api"},
        {"description": "other"},
        {"labels": (("a", "2"),)},
        {"on_insufficient": PARTIAL},
        {"currency": "EUR"},
    ],
)
async def test_the_same_consumption_key_with_another_input_is_a_key_conflict(
    runtime, make_customer, change
):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    await promo(runtime, customer_id, "10", "EUR")
    await consume(runtime, customer_id, "1.5", key="c", labels=(("a", "1"),))
    counts = await row_counts(runtime.engine)
    fields = {"amount": "1.5", "labels": (("a", "1"),)} | change

    with pytest.raises(KeyConflict) as raised:
        await consume(runtime, customer_id, key="c", **fields)

    assert raised.value.key == "c"
    assert await row_counts(runtime.engine) == counts


async def test_a_rejected_consumption_does_not_use_up_its_key(runtime, make_customer):
    customer_id = await make_customer()
    with pytest.raises(InsufficientCredits):
        await consume(runtime, customer_id, "5", key="c")
    await promo(runtime, customer_id, "10")

    outcome = await consume(runtime, customer_id, "5", key="c")

    assert (outcome.replayed, outcome.balance.available) == (False, 500)


async def test_consumption_keys_are_their_own_namespace_per_customer(runtime, make_customer):
    first_customer = await make_customer()
    second_customer = await make_customer()
    await promo(runtime, first_customer, "10", key="k")
    await promo(runtime, second_customer, "10")
    first = await consume(runtime, first_customer, "1", key="k")

    second = await consume(runtime, second_customer, "1", key="k")

    assert (first.replayed, second.replayed) == (False, False)


# ---- catch-up of time-driven events


async def test_a_consumption_after_a_future_effective_at_books_the_funding_first(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    start = clock.now() + timedelta(hours=1)
    grant = await promo(runtime, customer_id, "10", effective_at=start)
    clock.advance(timedelta(hours=3))

    outcome = await consume(runtime, customer_id, "4", key="c")

    funded, consumed = await ledger(runtime.engine, customer_id)
    assert (funded.sequence, funded.type, funded.amount, funded.booked_at) == (
        1,
        "FUNDED",
        1000,
        start,
    )
    assert (funded.actor_type, funded.actor_name, funded.created_at) == (
        "SYSTEM",
        "system",
        clock.now(),
    )
    assert (consumed.sequence, consumed.type, consumed.booked_at) == (2, "CONSUMED", clock.now())
    assert (consumed.actor_type, funded.grant_id) == ("OPEN", grant.grant_id)
    assert funded.transaction_id != consumed.transaction_id
    assert outcome.balance.available == 600


async def test_catch_up_books_every_due_event_in_time_order(runtime, make_customer, clock):
    customer_id = await make_customer()
    now = clock.now()
    late = await promo(runtime, customer_id, "1", effective_at=now + timedelta(hours=5))
    early = await promo(runtime, customer_id, "2", effective_at=now + timedelta(hours=1))
    short = await promo(runtime, customer_id, "4", expires_after=parse_duration("PT3H"))
    clock.advance(timedelta(hours=6))

    await consume(runtime, customer_id, "1", key="c")

    assert [
        (e.sequence, e.type, e.grant_id, e.booked_at)
        for e in await ledger(runtime.engine, customer_id)
    ] == [
        (1, "FUNDED", short.grant_id, now),
        (2, "FUNDED", early.grant_id, now + timedelta(hours=1)),
        (3, "EXPIRED", short.grant_id, now + timedelta(hours=3)),
        (4, "FUNDED", late.grant_id, now + timedelta(hours=5)),
        (5, "CONSUMED", early.grant_id, clock.now()),
    ]


async def test_a_refused_request_leaves_due_events_to_be_booked_later_at_their_instant(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    start = clock.now() + timedelta(hours=1)
    await promo(runtime, customer_id, "1", effective_at=start)
    clock.advance(timedelta(hours=2))

    with pytest.raises(InsufficientCredits) as raised:
        await consume(runtime, customer_id, "5", key="c")
    assert raised.value.available == D("1.00")
    assert await ledger(runtime.engine, customer_id) == []

    clock.advance(timedelta(hours=2))
    await consume(runtime, customer_id, "1", key="c2")

    assert [(e.type, e.booked_at) for e in await ledger(runtime.engine, customer_id)] == [
        ("FUNDED", start),
        ("CONSUMED", clock.now()),
    ]
