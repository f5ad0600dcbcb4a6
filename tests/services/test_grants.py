"""Creating paid and promotional grants (DESIGN §3.1, §3.2, §2 limits, §7 keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.domain.errors import KeyConflict, NotFound, ValidationFailed
from app.domain.grants import AvailabilityPolicy, FundingMethod, GrantStatus, SettlementStatus
from app.domain.ids import new_id
from app.domain.ledger import OPEN
from app.domain.time import parse_duration
from app.services.currencies import create_custom_currency
from app.services.grants import GrantRequest, PurchaseTerms, grant_promotional_credits
from app.storage.engine import read_connection
from app.storage.tables import grant_features
from tests.services.support import (
    D,
    amounts,
    balance,
    fields_of,
    grant_row,
    grant_status,
    ledger,
    promo,
    purchase,
    row_counts,
)

ON_SETTLEMENT = PurchaseTerms(availability_policy=AvailabilityPolicy.ON_SETTLEMENT)


# ---- promotional grants


async def test_a_promotional_grant_is_funded_at_once(runtime, make_customer, clock):
    customer_id = await make_customer()

    outcome = await promo(runtime, customer_id, "10.50")

    assert outcome.replayed is False
    assert outcome.grant_id.startswith("grt_")
    figures = outcome.balance
    assert (figures.available, figures.funded, figures.pending, figures.sequence) == (
        1050,
        1050,
        0,
        1,
    )
    assert (figures.available_promotional, figures.available_paid) == (1050, 0)
    [entry] = await ledger(runtime.engine, customer_id)
    assert (entry.sequence, entry.type, entry.amount) == (1, "FUNDED", 1050)
    assert (entry.balance_before, entry.balance_after) == (0, 1050)
    assert (entry.booked_at, entry.created_at) == (clock.now(), clock.now())
    assert (entry.actor_type, entry.actor_name, entry.funding_method) == ("OPEN", "open", "NONE")
    assert await grant_status(runtime, outcome.grant_id) is GrantStatus.ACTIVE


async def test_a_promotional_grant_stores_its_features_sorted_and_deduplicated(
    runtime, make_customer
):
    customer_id = await make_customer()

    outcome = await promo(runtime, customer_id, "5", features=("storage", "api_calls", "storage"))

    assert (await grant_row(runtime.engine, outcome.grant_id)).features == ["api_calls", "storage"]
    async with read_connection(runtime.engine) as connection:
        statement = select(grant_features.c.feature).where(
            grant_features.c.grant_id == outcome.grant_id
        )
        assert sorted((await connection.execute(statement)).scalars()) == ["api_calls", "storage"]


async def test_a_grant_has_priority_10_unless_given(runtime, make_customer):
    customer_id = await make_customer()

    first = await promo(runtime, customer_id, "1")
    second = await promo(runtime, customer_id, "1", priority=1)

    assert (await grant_row(runtime.engine, first.grant_id)).priority == 10
    assert (await grant_row(runtime.engine, second.grant_id)).priority == 1


async def test_expires_after_one_month_from_january_31_ends_on_february_28(
    runtime, make_customer, clock
):
    clock.set(datetime(2026, 1, 31, 9, 30, tzinfo=UTC))
    customer_id = await make_customer()

    outcome = await promo(runtime, customer_id, "1", expires_after=parse_duration("P1M"))

    row = await grant_row(runtime.engine, outcome.grant_id)
    assert row.expires_at == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)


async def test_expires_after_counts_from_effective_at(runtime, make_customer, clock):
    customer_id = await make_customer()
    start = clock.now() + timedelta(days=2)

    outcome = await promo(
        runtime, customer_id, "1", effective_at=start, expires_after=parse_duration("P30D")
    )

    row = await grant_row(runtime.engine, outcome.grant_id)
    assert (row.effective_at, row.expires_at) == (start, start + timedelta(days=30))


async def test_a_backdated_effective_at_funds_at_the_time_of_writing(runtime, make_customer, clock):
    customer_id = await make_customer()
    past = clock.now() - timedelta(days=3)

    outcome = await promo(runtime, customer_id, "4", effective_at=past)

    row = await grant_row(runtime.engine, outcome.grant_id)
    assert (row.effective_at, row.funded_at) == (past, clock.now())
    [entry] = await ledger(runtime.engine, customer_id)
    assert entry.booked_at == clock.now()
    assert (await balance(runtime, customer_id, at=past)).available == 0


# ---- purchases


async def test_a_purchase_available_on_creation_is_funded_while_its_payment_is_pending(
    runtime, make_customer
):
    customer_id = await make_customer()

    outcome = await purchase(runtime, customer_id, "100")

    row = await grant_row(runtime.engine, outcome.grant_id)
    assert (row.funding_method, row.settlement_status, row.availability_policy) == (
        "INVOICE",
        "PENDING",
        "ON_CREATION",
    )
    assert (row.purchase_currency, row.cost_basis, row.purchase_amount) == ("USD", "1", 10000)
    assert (outcome.balance.available, outcome.balance.available_paid) == (10000, 10000)
    assert amounts(await ledger(runtime.engine, customer_id)) == [("FUNDED", 10000)]


async def test_a_purchase_available_on_settlement_waits_as_pending(runtime, make_customer):
    customer_id = await make_customer()

    outcome = await purchase(runtime, customer_id, "100", terms=ON_SETTLEMENT)

    figures = outcome.balance
    assert (figures.available, figures.pending, figures.funded, figures.sequence) == (
        0,
        10000,
        0,
        0,
    )
    assert await ledger(runtime.engine, customer_id) == []
    assert await grant_status(runtime, outcome.grant_id) is GrantStatus.PENDING


async def test_a_purchase_created_authorized_is_funded_under_on_authorization(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    terms = PurchaseTerms(
        availability_policy=AvailabilityPolicy.ON_AUTHORIZATION,
        settlement_status=SettlementStatus.AUTHORIZED,
    )

    outcome = await purchase(
        runtime, customer_id, "7", terms=terms, funding_method=FundingMethod.EXTERNAL
    )

    row = await grant_row(runtime.engine, outcome.grant_id)
    assert (row.authorized_at, row.settled_at, row.funded_at) == (clock.now(), None, clock.now())
    assert outcome.balance.available == 700


async def test_a_purchase_created_settled_has_both_payment_timestamps(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    terms = PurchaseTerms(
        availability_policy=AvailabilityPolicy.ON_SETTLEMENT,
        settlement_status=SettlementStatus.SETTLED,
    )

    outcome = await purchase(runtime, customer_id, "7", terms=terms)

    row = await grant_row(runtime.engine, outcome.grant_id)
    assert (row.authorized_at, row.settled_at) == (clock.now(), clock.now())
    assert outcome.balance.available == 700


@pytest.mark.parametrize(
    ("amount", "basis", "price"),
    [
        ("3", "0.125", 38),
        ("1", "0.125", 12),
        ("5", "0.125", 62),
        ("2", "0.0049", 1),
        ("1", "1.5", 150),
    ],
)
async def test_the_price_is_rounded_half_to_even_to_the_purchase_currency(
    runtime, make_customer, amount, basis, price
):
    customer_id = await make_customer()

    outcome = await purchase(runtime, customer_id, amount, terms=PurchaseTerms(cost_basis=D(basis)))

    assert (await grant_row(runtime.engine, outcome.grant_id)).purchase_amount == price


async def test_credits_in_a_custom_unit_are_priced_in_the_iso_purchase_currency(
    runtime, make_customer
):
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0)
    customer_id = await make_customer()
    terms = PurchaseTerms(currency="JPY", cost_basis=D("0.5"))

    outcome = await purchase(runtime, customer_id, "1001", "TOKENS", terms=terms)

    row = await grant_row(runtime.engine, outcome.grant_id)
    assert (row.currency, row.amount, row.purchase_currency, row.purchase_amount) == (
        "TOKENS",
        1001,
        "JPY",
        500,
    )


async def test_a_custom_unit_purchase_without_a_purchase_currency_is_refused(
    runtime, make_customer
):
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0)
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await purchase(runtime, customer_id, "10", "TOKENS")

    assert fields_of(raised.value) == [("input", "purchase", "currency")]


async def test_a_purchase_currency_must_be_an_iso_currency(runtime, make_customer):
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0)
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await purchase(runtime, customer_id, "10", "TOKENS", terms=PurchaseTerms(currency="TOKENS"))

    assert fields_of(raised.value) == [("input", "purchase", "currency")]


@pytest.mark.parametrize("basis", ["0", "-1", "0.0000000000001", "NaN"])
async def test_a_cost_basis_must_be_positive_with_at_most_12_places(runtime, make_customer, basis):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await purchase(runtime, customer_id, "1", terms=PurchaseTerms(cost_basis=D(basis)))

    assert fields_of(raised.value) == [("input", "purchase", "perUnitCostBasis")]


async def test_a_cost_basis_with_12_places_is_accepted(runtime, make_customer):
    customer_id = await make_customer()

    outcome = await purchase(
        runtime, customer_id, "1", terms=PurchaseTerms(cost_basis=D("0.000000000001"))
    )

    assert (await grant_row(runtime.engine, outcome.grant_id)).purchase_amount == 0


async def test_a_price_of_10_to_the_18_smallest_units_is_refused_on_the_cost_basis(
    runtime, make_customer
):
    customer_id = await make_customer()
    terms = PurchaseTerms(cost_basis=D("1000"))

    with pytest.raises(ValidationFailed) as raised:
        await purchase(runtime, customer_id, "1000000000000000", terms=terms)

    assert fields_of(raised.value) == [("input", "purchase", "perUnitCostBasis")]


async def test_a_purchase_cannot_use_funding_none(runtime, make_customer):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await purchase(runtime, customer_id, "1", funding_method=FundingMethod.NONE)

    assert fields_of(raised.value) == [("input", "fundingMethod")]


async def test_a_purchase_cannot_start_failed(runtime, make_customer):
    customer_id = await make_customer()
    terms = PurchaseTerms(settlement_status=SettlementStatus.FAILED)

    with pytest.raises(ValidationFailed) as raised:
        await purchase(runtime, customer_id, "1", terms=terms)

    assert fields_of(raised.value) == [("input", "purchase", "settlementStatus")]


async def test_an_empty_payment_reference_is_refused(runtime, make_customer):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await purchase(runtime, customer_id, "1", terms=PurchaseTerms(payment_reference=""))

    assert fields_of(raised.value) == [("input", "purchase", "paymentReference")]


# ---- validation


async def test_an_invalid_grant_reports_every_issue_at_once(runtime, make_customer):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(
            runtime,
            customer_id,
            "1.001",
            name="",
            description="d" * 1025,
            labels=(("a", "1"), ("a", "2")),
            priority=0,
            features=("api", "Bad"),
            key="",
        )

    assert fields_of(raised.value) == [
        ("input", "key"),
        ("input", "name"),
        ("input", "description"),
        ("input", "labels", "1", "key"),
        ("input", "priority"),
        ("input", "features", "1"),
        ("input", "amount"),
    ]


@pytest.mark.parametrize("priority", [0, 1001])
async def test_a_priority_must_be_between_1_and_1000(runtime, make_customer, priority):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, "1", priority=priority)

    assert fields_of(raised.value) == [("input", "priority")]


@pytest.mark.parametrize(
    "feature", ["", "API", "api__calls", "_api", "api_", "a" * 65, "api-calls"]
)
async def test_a_feature_must_be_lowercase_words_joined_by_underscores(
    runtime, make_customer, feature
):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, "1", features=("ok", feature))

    assert fields_of(raised.value) == [("input", "features", "1")]


async def test_an_unknown_currency_is_refused_on_currency(runtime, make_customer):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, "1", "NOPE")

    assert fields_of(raised.value) == [("input", "currency")]


@pytest.mark.parametrize("amount", ["0", "-1", "0.001", "10000000000000000", "Infinity"])
async def test_an_amount_must_be_positive_within_scale_and_below_10_to_the_18(
    runtime, make_customer, amount
):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, amount)

    assert fields_of(raised.value) == [("input", "amount")]


async def test_decimal_places_are_counted_on_the_value(runtime, make_customer):
    customer_id = await make_customer()

    outcome = await promo(runtime, customer_id, "1.500")

    assert outcome.balance.available == 150


async def test_the_largest_amount_below_the_limit_is_accepted(runtime, make_customer):
    customer_id = await make_customer()

    outcome = await promo(runtime, customer_id, "9999999999999999.99")

    assert outcome.balance.available == 10**18 - 1


async def test_funded_plus_pending_credits_must_stay_below_10_to_the_18(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "4000000000000000")
    await purchase(runtime, customer_id, "4000000000000000", terms=ON_SETTLEMENT)
    counts = await row_counts(runtime.engine)

    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, "2000000000000000")

    assert fields_of(raised.value) == [("input", "amount")]
    assert await row_counts(runtime.engine) == counts
    await promo(runtime, customer_id, "1999999999999999.99")


async def test_expires_after_and_expires_at_together_are_refused(runtime, make_customer, clock):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(
            runtime,
            customer_id,
            "1",
            expires_after=parse_duration("P1D"),
            expires_at=clock.now() + timedelta(days=2),
        )

    assert fields_of(raised.value) == [("input", "expiresAfter")]


@pytest.mark.parametrize("duration", ["PT0S", "-P1D"])
async def test_expires_after_must_be_positive(runtime, make_customer, duration):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, "1", expires_after=parse_duration(duration))

    assert fields_of(raised.value) == [("input", "expiresAfter")]


async def test_an_expiry_not_after_effective_at_is_refused(runtime, make_customer, clock):
    customer_id = await make_customer()
    start = clock.now() + timedelta(days=5)

    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, "1", effective_at=start, expires_at=start)

    assert fields_of(raised.value) == [("input", "expiresAt")]


async def test_an_expiry_in_the_past_is_refused(runtime, make_customer, clock):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(
            runtime,
            customer_id,
            "1",
            effective_at=clock.now() - timedelta(days=10),
            expires_after=parse_duration("P3D"),
        )

    assert fields_of(raised.value) == [("input", "expiresAfter")]


async def test_an_expiry_at_exactly_now_is_refused(runtime, make_customer, clock):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(
            runtime,
            customer_id,
            "1",
            effective_at=clock.now() - timedelta(days=1),
            expires_at=clock.now(),
        )

    assert fields_of(raised.value) == [("input", "expiresAt")]


async def test_instants_without_an_offset_are_refused(runtime, make_customer):
    customer_id = await make_customer()

    with pytest.raises(ValidationFailed) as raised:
        await promo(
            runtime,
            customer_id,
            "1",
            effective_at=datetime(2026, 2, 1),
            expires_at=datetime(2026, 3, 1),
        )

    assert fields_of(raised.value) == [("input", "effectiveAt"), ("input", "expiresAt")]


async def test_a_malformed_customer_id_is_a_validation_issue(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, "cus_nope", "1")

    assert fields_of(raised.value) == [("input", "customerId")]


@pytest.mark.parametrize("kind", ["customer", "grant"])
async def test_a_well_formed_unknown_customer_id_is_not_found(runtime, kind):
    unknown = new_id(kind)

    with pytest.raises(NotFound) as raised:
        await promo(runtime, unknown, "1")

    assert raised.value.id == unknown
    assert sum((await row_counts(runtime.engine)).values()) == 0


async def test_a_refused_grant_writes_and_publishes_nothing(runtime, make_customer, publisher):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "1")
    counts = await row_counts(runtime.engine)
    published = len(publisher.published)

    with pytest.raises(ValidationFailed):
        await promo(runtime, customer_id, "1", priority=0)

    assert await row_counts(runtime.engine) == counts
    assert len(publisher.published) == published


async def test_a_new_grant_is_published_with_its_entry_after_commit(
    runtime, make_customer, publisher
):
    customer_id = await make_customer()

    outcome = await promo(runtime, customer_id, "3")

    [committed] = publisher.published
    assert committed.customer_id == customer_id
    assert committed.grant_ids == {outcome.grant_id}
    assert committed.currencies == {"USD"}
    assert [(entry.type, entry.amount) for entry in committed.entries] == [("FUNDED", 300)]


# ---- keys


async def test_a_keyed_grant_repeated_with_the_same_input_replays_the_first(runtime, make_customer):
    customer_id = await make_customer()
    first = await purchase(
        runtime, customer_id, "1.50", key="order-1", labels=(("a", "1"), ("b", "2"))
    )
    counts = await row_counts(runtime.engine)

    again = await purchase(
        runtime, customer_id, "1.5", key="order-1", labels=(("b", "2"), ("a", "1"))
    )

    assert (again.grant_id, again.replayed) == (first.grant_id, True)
    assert again.balance == first.balance
    assert await row_counts(runtime.engine) == counts


async def test_omitted_fields_equal_their_defaults_when_replaying_a_grant(runtime, make_customer):
    customer_id = await make_customer()
    first = await purchase(runtime, customer_id, "2", key="order-1")
    explicit = PurchaseTerms(
        currency="USD",
        cost_basis=D("1.00"),
        availability_policy=AvailabilityPolicy.ON_CREATION,
        settlement_status=SettlementStatus.PENDING,
    )

    again = await purchase(
        runtime, customer_id, "2.00", key="order-1", terms=explicit, priority=10, labels=()
    )

    assert (again.grant_id, again.replayed) == (first.grant_id, True)


async def test_features_compare_as_sets_when_replaying_a_grant(runtime, make_customer):
    customer_id = await make_customer()
    first = await promo(runtime, customer_id, "2", key="p", features=("storage", "api"))

    again = await promo(runtime, customer_id, "2", key="p", features=("api", "storage", "api"))

    assert (again.grant_id, again.replayed) == (first.grant_id, True)


async def test_an_omitted_effective_at_stays_omitted_on_a_later_retry(
    runtime, make_customer, clock
):
    customer_id = await make_customer()
    first = await promo(runtime, customer_id, "2", key="p", expires_after=parse_duration("P30D"))
    clock.advance(timedelta(hours=5))

    again = await promo(runtime, customer_id, "2", key="p", expires_after=parse_duration("P30D"))

    assert (again.grant_id, again.replayed) == (first.grant_id, True)


async def test_an_explicit_effective_at_differs_from_an_omitted_one(runtime, make_customer, clock):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "2", key="p")

    with pytest.raises(KeyConflict):
        await promo(runtime, customer_id, "2", key="p", effective_at=clock.now())


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "2.01"},
        {"name": "Other"},
        {"priority": 11},
        {"labels": (("a", "2"),)},
        {"terms": PurchaseTerms(cost_basis=D("0.9"))},
        {"funding_method": FundingMethod.EXTERNAL},
        {"features": ("api",)},
    ],
)
async def test_the_same_grant_key_with_another_input_is_a_key_conflict(
    runtime, make_customer, change
):
    customer_id = await make_customer()
    await purchase(runtime, customer_id, "2", key="order-1", labels=(("a", "1"),))
    counts = await row_counts(runtime.engine)
    fields = {"amount": "2", "labels": (("a", "1"),)} | change

    with pytest.raises(KeyConflict) as raised:
        await purchase(runtime, customer_id, key="order-1", **fields)

    assert raised.value.key == "order-1"
    assert await row_counts(runtime.engine) == counts


async def test_paid_and_promotional_grants_share_one_key_namespace(runtime, make_customer):
    customer_id = await make_customer()
    await purchase(runtime, customer_id, "2", key="k")

    with pytest.raises(KeyConflict):
        await promo(runtime, customer_id, "2", key="k")


async def test_grant_keys_belong_to_one_customer(runtime, make_customer):
    first_customer = await make_customer()
    second_customer = await make_customer()
    first = await promo(runtime, first_customer, "2", key="k")

    second = await promo(runtime, second_customer, "2", key="k")

    assert second.replayed is False
    assert second.grant_id != first.grant_id


async def test_a_refused_grant_does_not_use_up_its_key(runtime, make_customer):
    customer_id = await make_customer()
    with pytest.raises(ValidationFailed):
        await promo(runtime, customer_id, "2", key="k", priority=0)

    outcome = await promo(runtime, customer_id, "3", key="k")

    assert outcome.replayed is False
    assert outcome.balance.available == 300


async def test_a_grant_refused_for_headroom_does_not_use_up_its_key(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "9000000000000000")
    with pytest.raises(ValidationFailed):
        await promo(runtime, customer_id, "1000000000000000", key="k")

    outcome = await promo(runtime, customer_id, "1", key="k")

    assert outcome.replayed is False


async def test_a_replayed_grant_answers_with_the_current_balance(runtime, make_customer):
    customer_id = await make_customer()
    first = await promo(runtime, customer_id, "2", key="k")
    await promo(runtime, customer_id, "3")

    again = await grant_promotional_credits(
        runtime,
        actor=OPEN,
        request=GrantRequest(
            customer_id=customer_id, name="Welcome credits", currency="USD", amount=D("2"), key="k"
        ),
    )

    assert (again.grant_id, again.replayed) == (first.grant_id, True)
    assert again.balance.available == 500


async def test_an_identical_retry_after_the_expiry_still_replays(runtime, make_customer, clock):
    customer_id = await make_customer()
    expires_at = clock.now() + timedelta(hours=1)
    first = await promo(runtime, customer_id, "1", key="k", expires_at=expires_at)
    clock.advance(timedelta(hours=2))

    again = await promo(runtime, customer_id, "1", key="k", expires_at=expires_at)

    assert (again.grant_id, again.replayed) == (first.grant_id, True)
