"""purchaseCredits and grantPromotionalCredits over HTTP: success, keys, every error member."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import Api
from tests.api.test_mutations_support import (
    PROMOTE,
    PURCHASE,
    UNKNOWN_CUSTOMER,
    case,
    counts,
    entries,
    fields_of,
    granted,
    new_customer,
    outcome,
    promote,
    purchase,
    written,
)

OPEN_ACTOR = {"type": "OPEN", "id": None, "name": "open"}
SYSTEM_ACTOR = {"type": "SYSTEM", "id": None, "name": "system"}


# ---------------------------------------------------------------- purchaseCredits


@pytest.mark.parametrize("funding", ["INVOICE", "EXTERNAL"])
async def test_a_purchase_is_funded_at_creation_by_default(api: Api, funding: str) -> None:
    customer_id = await new_customer(api)

    result = await purchase(api, customer_id, fundingMethod=funding, amount="100.50")

    assert result["__typename"] == "CreditGrantSuccess"
    assert result["replayed"] is False
    grant = result["grant"]
    assert grant["id"].startswith("grt_")
    assert grant == {
        "id": grant["id"],
        "key": None,
        "name": "Credit pack",
        "description": None,
        "labels": [],
        "currency": "USD",
        "fundingMethod": funding,
        "priority": 10,
        "features": [],
        "effectiveAt": "2026-01-15T12:00:00Z",
        "expiresAt": None,
        "voidedAt": None,
        "voidReason": None,
        "status": "ACTIVE",
        "createdAt": "2026-01-15T12:00:00Z",
        "updatedAt": "2026-01-15T12:00:00Z",
        "amount": "100.50",
        "remaining": "100.50",
        "consumed": "0.00",
        "expired": "0.00",
        "voided": "0.00",
        "purchase": {
            "currency": "USD",
            "perUnitCostBasis": "1",
            "amount": "100.50",
            "availabilityPolicy": "ON_CREATION",
            "settlementStatus": "PENDING",
            "paymentReference": None,
            "authorizedAt": None,
            "settledAt": None,
            "failedAt": None,
        },
    }
    assert result["balance"] == {
        "currency": "USD",
        "at": "2026-01-15T12:00:00Z",
        "featureKey": None,
        "available": "100.50",
        "pending": "0.00",
        "funded": "100.50",
        "consumed": "0.00",
        "expired": "0.00",
        "voided": "0.00",
        "availablePromotional": "0.00",
        "availablePaid": "100.50",
        "sequence": 1,
    }
    [funded] = await entries(api, customer_id)
    assert funded["type"] == "FUNDED"
    assert funded["grant"]["id"] == grant["id"]
    assert (
        funded["amount"],
        funded["availableBalanceBefore"],
        funded["availableBalanceAfter"],
    ) == (
        "100.50",
        "0.00",
        "100.50",
    )
    assert (funded["sequence"], funded["bookedAt"], funded["createdAt"]) == (
        1,
        "2026-01-15T12:00:00Z",
        "2026-01-15T12:00:00Z",
    )
    assert funded["actor"] == OPEN_ACTOR
    assert funded["transactionId"].startswith("txn_")
    assert funded["consumption"] is None


async def test_a_purchase_keeps_every_field_it_is_given(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await purchase(
        api,
        customer_id,
        key="order-42",
        name="Pro pack",
        description="Annual plan credits",
        labels=[{"key": "plan", "value": "pro"}, {"key": "order.id", "value": "42"}],
        currency="EUR",
        amount="1000",
        fundingMethod="EXTERNAL",
        purchase={
            "perUnitCostBasis": "0.9",
            "availabilityPolicy": "ON_CREATION",
            "settlementStatus": "SETTLED",
            "paymentReference": "pi_3Nx",
        },
        priority=5,
        features=["storage", "api_calls", "storage"],
        effectiveAt="2026-01-10T00:00:00+01:00",
        expiresAt="2027-01-10T00:00:00Z",
    )

    grant = result["grant"]
    assert (grant["key"], grant["name"], grant["description"]) == (
        "order-42",
        "Pro pack",
        "Annual plan credits",
    )
    assert grant["labels"] == [{"key": "plan", "value": "pro"}, {"key": "order.id", "value": "42"}]
    assert (grant["currency"], grant["amount"], grant["priority"]) == ("EUR", "1000.00", 5)
    assert grant["features"] == ["api_calls", "storage"]
    assert grant["effectiveAt"] == "2026-01-09T23:00:00Z"
    assert grant["expiresAt"] == "2027-01-10T00:00:00Z"
    assert grant["purchase"] == {
        "currency": "EUR",
        "perUnitCostBasis": "0.9",
        "amount": "900.00",
        "availabilityPolicy": "ON_CREATION",
        "settlementStatus": "SETTLED",
        "paymentReference": "pi_3Nx",
        "authorizedAt": "2026-01-15T12:00:00Z",
        "settledAt": "2026-01-15T12:00:00Z",
        "failedAt": None,
    }
    [funded] = await entries(api, customer_id)
    assert funded["bookedAt"] == "2026-01-15T12:00:00Z"  # a backdated effectiveAt is not


async def test_a_purchase_with_funding_none_is_refused(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await purchase(api, customer_id, fundingMethod="NONE")

    assert fields_of(result) == [["input", "fundingMethod"]]
    assert await counts(api, customer_id) == (0, 0)


PRICES: list[tuple[str, dict[str, str], str]] = [
    ("3", {"perUnitCostBasis": "0.125"}, "0.38"),  # 0.375: half to even goes up
    ("1", {"perUnitCostBasis": "0.125"}, "0.12"),  # 0.125: half to even goes down
    ("5", {"perUnitCostBasis": "0.125"}, "0.62"),
    ("7", {"perUnitCostBasis": "0.125"}, "0.88"),
    ("3", {"perUnitCostBasis": "0.1251"}, "0.38"),
    ("1.50", {"perUnitCostBasis": "2"}, "3.00"),
    ("10", {"currency": "JPY", "perUnitCostBasis": "150.55"}, "1506"),  # 1505.5
    ("10", {"currency": "JPY", "perUnitCostBasis": "150.45"}, "1504"),  # 1504.5
    ("3", {"currency": "BHD", "perUnitCostBasis": "0.0005"}, "0.002"),  # 0.0015
    ("100", {"perUnitCostBasis": "0.000000000001"}, "0.00"),
]


async def test_the_price_is_amount_times_cost_basis_rounded_half_to_even(api: Api) -> None:
    customer_id = await new_customer(api)

    found = {}
    for index, (amount, terms, _) in enumerate(PRICES):
        grant = await granted(api, PURCHASE, customer_id, amount=amount, purchase=terms)
        found[case(index, {"amount": amount, **terms})] = (
            grant["purchase"]["currency"],
            grant["purchase"]["amount"],
        )

    assert found == {
        case(i, {"amount": amount, **terms}): (terms.get("currency", "USD"), price)
        for i, (amount, terms, price) in enumerate(PRICES)
    }


@pytest.mark.parametrize(
    ("currency", "amount", "stored"),
    [("USD", "1.500", "1.50"), ("JPY", "100.000", "100"), ("BHD", "0.1230", "0.123")],
)
async def test_decimal_places_are_counted_on_the_value(
    api: Api, currency: str, amount: str, stored: str
) -> None:
    customer_id = await new_customer(api)

    result = await purchase(api, customer_id, currency=currency, amount=amount)

    assert result["__typename"] == "CreditGrantSuccess", result
    assert result["grant"]["amount"] == stored
    assert result["grant"]["purchase"]["amount"] == stored


async def test_a_cost_basis_counts_its_places_on_the_value(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await purchase(
        api, customer_id, amount="3", purchase={"perUnitCostBasis": "0.1250000000000"}
    )

    assert result["grant"]["purchase"]["perUnitCostBasis"] == "0.125"
    assert result["grant"]["purchase"]["amount"] == "0.38"


async def test_each_currency_of_a_customer_has_its_own_ledger_sequence(api: Api) -> None:
    customer_id = await new_customer(api)
    await purchase(api, customer_id, currency="EUR", amount="10")
    await purchase(api, customer_id, currency="EUR", amount="5")

    result = await purchase(api, customer_id, currency="USD", amount="7")

    assert (result["balance"]["currency"], result["balance"]["sequence"]) == ("USD", 1)
    assert result["balance"]["available"] == "7.00"
    balances = {b["currency"]: b for b in (await written(api, customer_id))["creditBalances"]}
    assert (balances["EUR"]["available"], balances["EUR"]["sequence"]) == ("15.00", 2)


async def test_a_purchase_may_not_start_failed(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await purchase(api, customer_id, purchase={"settlementStatus": "FAILED"})

    assert fields_of(result) == [["input", "purchase", "settlementStatus"]]
    assert await counts(api, customer_id) == (0, 0)


BAD_PURCHASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"amount": "1.005"}, ["input", "amount"]),
    ({"amount": "0"}, ["input", "amount"]),
    ({"amount": "0.00"}, ["input", "amount"]),
    ({"amount": "-5"}, ["input", "amount"]),
    ({"currency": "JPY", "amount": "1.5"}, ["input", "amount"]),
    ({"amount": "10000000000000000"}, ["input", "amount"]),  # 10^18 cents
    ({"currency": "XYZ"}, ["input", "currency"]),
    ({"currency": "usd"}, ["input", "currency"]),
    ({"priority": 0}, ["input", "priority"]),
    ({"priority": 1001}, ["input", "priority"]),
    ({"features": ["api_calls", "Bad-Key"]}, ["input", "features", "1"]),
    ({"features": ["api__calls"]}, ["input", "features", "0"]),
    ({"features": [""]}, ["input", "features", "0"]),
    ({"features": ["a" * 65]}, ["input", "features", "0"]),
    ({"name": ""}, ["input", "name"]),
    ({"name": "n" * 257}, ["input", "name"]),
    ({"description": "d" * 1025}, ["input", "description"]),
    ({"key": ""}, ["input", "key"]),
    ({"key": "k" * 257}, ["input", "key"]),
    ({"labels": [{"key": "a", "value": "1"}, {"key": "b c", "value": "2"}]},
     ["input", "labels", "1", "key"]),
    ({"labels": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
     ["input", "labels", "1", "key"]),
    ({"expiresAt": "2026-01-01T00:00:00Z"}, ["input", "expiresAt"]),
    ({"expiresAt": "2026-01-15T12:00:00Z"}, ["input", "expiresAt"]),
    ({"effectiveAt": "2025-12-01T00:00:00Z", "expiresAfter": "P1D"}, ["input", "expiresAfter"]),
    ({"expiresAfter": "P30D", "expiresAt": "2026-06-01T00:00:00Z"}, ["input", "expiresAfter"]),
    ({"effectiveAt": "2026-03-01T00:00:00Z", "expiresAt": "2026-03-01T00:00:00Z"},
     ["input", "expiresAt"]),
    ({"effectiveAt": "2026-03-01T00:00:00Z", "expiresAt": "2026-02-01T00:00:00Z"},
     ["input", "expiresAt"]),
    ({"expiresAfter": "P0D"}, ["input", "expiresAfter"]),
    ({"expiresAfter": "-P1D"}, ["input", "expiresAfter"]),
    ({"effectiveAt": "2026-02-01T00:00:00"}, ["input", "effectiveAt"]),
    ({"expiresAt": "2026-02-01T00:00:00"}, ["input", "expiresAt"]),
    ({"purchase": {"perUnitCostBasis": "0"}}, ["input", "purchase", "perUnitCostBasis"]),
    ({"purchase": {"perUnitCostBasis": "-1"}}, ["input", "purchase", "perUnitCostBasis"]),
    ({"purchase": {"perUnitCostBasis": "0.0000000000001"}},
     ["input", "purchase", "perUnitCostBasis"]),
    ({"amount": "1000000000", "purchase": {"perUnitCostBasis": "100000000000"}},
     ["input", "purchase", "perUnitCostBasis"]),  # a price of 10^22 cents
    ({"purchase": {"currency": "XYZ"}}, ["input", "purchase", "currency"]),
    ({"purchase": {"paymentReference": ""}}, ["input", "purchase", "paymentReference"]),
    ({"customerId": "cus_123"}, ["input", "customerId"]),
    ({"customerId": ""}, ["input", "customerId"]),
]  # fmt: skip


async def test_a_purchase_with_any_invalid_field_is_refused_and_writes_nothing(
    api: Api,
) -> None:
    customer_id = await new_customer(api)

    found = {}
    for index, (fields, _) in enumerate(BAD_PURCHASES):
        found[case(index, fields)] = outcome(await purchase(api, customer_id, **fields))

    assert found == {case(i, fields): [field] for i, (fields, field) in enumerate(BAD_PURCHASES)}
    assert await counts(api, customer_id) == (0, 0)


async def test_a_purchase_reports_every_issue_at_once(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await purchase(
        api,
        customer_id,
        name="",
        amount="0",
        priority=1001,
        features=["Bad-Key"],
        fundingMethod="NONE",
        effectiveAt="2026-02-01T00:00:00",
        purchase={"perUnitCostBasis": "0", "settlementStatus": "FAILED"},
    )

    assert sorted(fields_of(result)) == [
        ["input", "amount"],
        ["input", "effectiveAt"],
        ["input", "features", "0"],
        ["input", "fundingMethod"],
        ["input", "name"],
        ["input", "priority"],
        ["input", "purchase", "perUnitCostBasis"],
        ["input", "purchase", "settlementStatus"],
    ]
    assert await counts(api, customer_id) == (0, 0)


async def test_a_purchase_for_an_unknown_customer_is_not_found(api: Api) -> None:
    result = await purchase(api, UNKNOWN_CUSTOMER)

    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "NOT_FOUND"
    assert result["id"] == UNKNOWN_CUSTOMER


async def test_a_purchase_for_the_id_of_a_grant_is_not_found(api: Api) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id)

    result = await purchase(api, grant["id"])

    assert result["__typename"] == "NotFoundError"
    assert result["id"] == grant["id"]
    assert await counts(api, customer_id) == (1, 1)


async def test_the_funded_and_pending_credits_of_a_customer_stay_below_the_limit(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PURCHASE, customer_id, amount="6000000000000000")

    result = await purchase(
        api, customer_id, amount="4000000000000000", effectiveAt="2026-02-01T00:00:00Z"
    )

    assert fields_of(result) == [["input", "amount"]]
    assert await counts(api, customer_id) == (1, 1)


# ---------------------------------------------------------------- keys


async def test_a_purchase_repeated_with_its_key_replays_the_first_answer(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    first = await purchase(api, customer_id, key="order-1")
    clock.advance(timedelta(minutes=5))

    again = await purchase(api, customer_id, key="order-1")

    assert again["__typename"] == "CreditGrantSuccess"
    assert again["replayed"] is True
    assert again["grant"] == first["grant"]
    assert again["balance"]["available"] == "100.00"
    assert await counts(api, customer_id) == (1, 1)


SAME_INPUTS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"amount": "1.50"}, {"amount": "1.5"}),
    ({"amount": "100"}, {"amount": "100.000"}),
    (
        {"labels": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
        {"labels": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}]},
    ),
    ({}, {"priority": 10}),
    ({"features": ["b", "a"]}, {"features": ["a", "b", "a"]}),
    ({}, {"purchase": {"perUnitCostBasis": "1.00", "availabilityPolicy": "ON_CREATION"}}),
    ({"purchase": {"perUnitCostBasis": "0.5"}}, {"purchase": {"perUnitCostBasis": "0.50"}}),
    ({}, {"purchase": {"currency": "USD", "settlementStatus": "PENDING"}}),
    ({}, {"description": None, "labels": None, "expiresAt": None}),
    ({"effectiveAt": "2026-02-01T00:00:00Z"}, {"effectiveAt": "2026-02-01T01:00:00+01:00"}),
]


async def test_a_purchase_key_compares_inputs_as_values(api: Api) -> None:
    customer_id = await new_customer(api)

    found = {}
    for index, (first, retry) in enumerate(SAME_INPUTS):
        key = f"order-{index}"
        made = await granted(api, PURCHASE, customer_id, key=key, **first)
        again = await purchase(api, customer_id, key=key, **retry)
        found[case(index, retry)] = (
            again["__typename"],
            again.get("replayed"),
            again.get("grant", {}).get("id") == made["id"],
        )

    assert found == {
        case(i, retry): ("CreditGrantSuccess", True, True)
        for i, (_, retry) in enumerate(SAME_INPUTS)
    }
    assert (await counts(api, customer_id))[0] == len(SAME_INPUTS)


async def test_an_omitted_effective_at_stays_omitted_on_a_retry(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    made = await purchase(api, customer_id, key="order-1")
    clock.advance(timedelta(hours=1))

    again = await purchase(api, customer_id, key="order-1")
    explicit = await purchase(api, customer_id, key="order-1", effectiveAt="2026-01-15T12:00:00Z")

    assert again["replayed"] is True
    assert again["grant"]["id"] == made["grant"]["id"]
    assert explicit["__typename"] == "KeyConflictError"
    assert explicit["key"] == "order-1"


OTHER_INPUTS: list[dict[str, Any]] = [
    {"amount": "101"},
    {"name": "Other pack"},
    {"fundingMethod": "EXTERNAL"},
    {"priority": 11},
    {"features": ["api_calls"]},
    {"currency": "EUR"},
    {"purchase": {"perUnitCostBasis": "0.5"}},
    {"purchase": {"availabilityPolicy": "ON_SETTLEMENT"}},
    {"purchase": {"paymentReference": "pi_1"}},
    {"expiresAfter": "P30D"},
    {"labels": [{"key": "a", "value": "1"}]},
]


async def test_a_purchase_key_reused_with_another_input_is_a_key_conflict(api: Api) -> None:
    customer_id = await new_customer(api)
    await purchase(api, customer_id, key="order-1")

    found = {}
    for index, changed in enumerate(OTHER_INPUTS):
        result = await purchase(api, customer_id, key="order-1", **changed)
        found[case(index, changed)] = (result["__typename"], result.get("code"), result.get("key"))

    assert found == {
        case(i, changed): ("KeyConflictError", "KEY_CONFLICT", "order-1")
        for i, changed in enumerate(OTHER_INPUTS)
    }
    assert await counts(api, customer_id) == (1, 1)


async def test_a_refused_purchase_does_not_use_up_its_key(api: Api) -> None:
    customer_id = await new_customer(api)
    refused = await purchase(api, customer_id, key="order-1", amount="1.005")
    assert refused["__typename"] == "ValidationError"

    result = await purchase(api, customer_id, key="order-1", amount="1.01")

    assert result["__typename"] == "CreditGrantSuccess"
    assert result["replayed"] is False
    assert result["grant"]["amount"] == "1.01"


async def test_paid_and_promotional_grants_share_one_key_namespace(api: Api) -> None:
    customer_id = await new_customer(api)
    await purchase(api, customer_id, key="shared")
    await promote(api, customer_id, key="promo")

    promotional = await promote(api, customer_id, key="shared")
    paid = await purchase(api, customer_id, key="promo")

    assert (promotional["__typename"], promotional["key"]) == ("KeyConflictError", "shared")
    assert (paid["__typename"], paid["key"]) == ("KeyConflictError", "promo")
    assert await counts(api, customer_id) == (2, 2)


async def test_concurrent_purchases_with_one_key_create_one_grant(api: Api) -> None:
    customer_id = await new_customer(api)

    results = await asyncio.gather(*(purchase(api, customer_id, key="order-1") for _ in range(4)))

    assert sorted(result["replayed"] for result in results) == [False, True, True, True]
    assert len({result["grant"]["id"] for result in results}) == 1
    assert await counts(api, customer_id) == (1, 1)


async def test_grant_keys_belong_to_one_customer(api: Api) -> None:
    acme = await new_customer(api, key="acme")
    globex = await new_customer(api, key="globex")
    first = await purchase(api, acme, key="order-1")

    other = await purchase(api, globex, key="order-1")

    assert other["__typename"] == "CreditGrantSuccess"
    assert other["replayed"] is False
    assert other["grant"]["id"] != first["grant"]["id"]


# ---------------------------------------------------------------- grantPromotionalCredits


async def test_promotional_credits_are_funded_at_creation(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await promote(
        api, customer_id, key="welcome", features=["api_calls"], priority=1, amount="25.5"
    )

    assert result["__typename"] == "CreditGrantSuccess"
    assert result["replayed"] is False
    grant = result["grant"]
    assert (grant["fundingMethod"], grant["purchase"], grant["status"]) == ("NONE", None, "ACTIVE")
    assert (grant["key"], grant["priority"], grant["features"]) == ("welcome", 1, ["api_calls"])
    assert (grant["amount"], grant["remaining"]) == ("25.50", "25.50")
    balance = result["balance"]
    assert (balance["available"], balance["availablePromotional"], balance["availablePaid"]) == (
        "25.50",
        "25.50",
        "0.00",
    )
    [funded] = await entries(api, customer_id)
    assert (funded["type"], funded["amount"], funded["actor"]) == ("FUNDED", "25.50", OPEN_ACTOR)


async def test_promotional_credits_effective_later_are_funded_at_their_effective_time(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)

    result = await promote(api, customer_id, effectiveAt="2026-02-01T00:00:00Z")

    assert result["grant"]["status"] == "PENDING"
    assert (result["balance"]["available"], result["balance"]["pending"]) == ("0.00", "25.00")
    assert result["balance"]["sequence"] == 0
    assert await counts(api, customer_id) == (1, 0)

    clock.set(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    assert (await written(api, customer_id))["creditGrants"]["edges"][0]["node"]["status"] == (
        "PENDING"
    )
    clock.set(datetime(2026, 2, 3, 9, 30, tzinfo=UTC))
    customer = await written(api, customer_id)

    assert customer["creditGrants"]["edges"][0]["node"]["status"] == "ACTIVE"
    [funded] = [edge["node"] for edge in customer["creditLedger"]["edges"]]
    assert funded["type"] == "FUNDED"
    assert funded["amount"] == "25.00"
    assert funded["bookedAt"] == "2026-02-01T00:00:00Z"
    assert funded["createdAt"] == "2026-02-03T09:30:00Z"
    assert funded["actor"] == SYSTEM_ACTOR
    assert funded["transactionId"] != result["grant"]["id"]
    [balance] = customer["creditBalances"]
    assert (balance["available"], balance["pending"], balance["sequence"]) == ("25.00", "0.00", 1)


EXPIRIES: list[tuple[str, str, str]] = [
    ("2026-01-31T10:00:00Z", "P1M", "2026-02-28T10:00:00Z"),
    ("2028-01-31T10:00:00Z", "P1M", "2028-02-29T10:00:00Z"),
    ("2026-01-31T10:00:00Z", "P1Y", "2027-01-31T10:00:00Z"),
    ("2026-01-20T10:00:00Z", "P30D", "2026-02-19T10:00:00Z"),
    ("2026-01-20T10:00:00Z", "PT12H", "2026-01-20T22:00:00Z"),
]


async def test_expires_after_uses_calendar_arithmetic_from_effective_at(api: Api) -> None:
    customer_id = await new_customer(api)

    found = {}
    for effective_at, expires_after, _ in EXPIRIES:
        grant = await granted(
            api, PROMOTE, customer_id, effectiveAt=effective_at, expiresAfter=expires_after
        )
        found[(effective_at, expires_after)] = (grant["effectiveAt"], grant["expiresAt"])

    assert found == {(start, after): (start, end) for start, after, end in EXPIRIES}


async def test_expires_after_without_effective_at_counts_from_now(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await promote(api, customer_id, expiresAfter="P1M")

    assert result["grant"]["expiresAt"] == "2026-02-15T12:00:00Z"


async def test_promotional_credits_expire_with_an_entry_for_what_remains(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id, expiresAt="2026-01-20T00:00:00Z")
    clock.set(datetime(2026, 1, 25, tzinfo=UTC))

    customer = await written(api, customer_id)

    assert customer["creditGrants"]["edges"][0]["node"]["status"] == "EXPIRED"
    expired = customer["creditLedger"]["edges"][0]["node"]
    assert (expired["type"], expired["amount"], expired["bookedAt"]) == (
        "EXPIRED",
        "-25.00",
        "2026-01-20T00:00:00Z",
    )
    assert expired["grant"]["id"] == grant["id"]
    assert expired["actor"] == SYSTEM_ACTOR


BAD_PROMOTIONS: list[tuple[dict[str, Any], list[str]]] = [
    ({"amount": "0.001"}, ["input", "amount"]),
    ({"amount": "-1"}, ["input", "amount"]),
    ({"currency": "XYZ"}, ["input", "currency"]),
    ({"priority": 0}, ["input", "priority"]),
    ({"features": ["Bad-Key"]}, ["input", "features", "0"]),
    ({"name": ""}, ["input", "name"]),
    ({"key": ""}, ["input", "key"]),
    ({"labels": [{"key": "a", "value": "1"}, {"key": "a", "value": "1"}]},
     ["input", "labels", "1", "key"]),
    ({"expiresAt": "2026-01-14T00:00:00Z"}, ["input", "expiresAt"]),
    ({"expiresAfter": "P1D", "expiresAt": "2026-06-01T00:00:00Z"}, ["input", "expiresAfter"]),
    ({"effectiveAt": "2026-02-01T00:00:00"}, ["input", "effectiveAt"]),
    ({"customerId": "nope"}, ["input", "customerId"]),
]  # fmt: skip


async def test_promotional_credits_with_any_invalid_field_are_refused_and_write_nothing(
    api: Api,
) -> None:
    customer_id = await new_customer(api)

    found = {}
    for index, (fields, _) in enumerate(BAD_PROMOTIONS):
        found[case(index, fields)] = outcome(await promote(api, customer_id, **fields))

    assert found == {case(i, fields): [field] for i, (fields, field) in enumerate(BAD_PROMOTIONS)}
    assert await counts(api, customer_id) == (0, 0)


async def test_promotional_credits_report_every_issue_at_once(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await promote(
        api, customer_id, amount="1.001", priority=0, name="", expiresAt="2026-01-01T00:00:00Z"
    )

    assert sorted(fields_of(result)) == [
        ["input", "amount"],
        ["input", "expiresAt"],
        ["input", "name"],
        ["input", "priority"],
    ]


async def test_promotional_credits_for_an_unknown_customer_are_not_found(api: Api) -> None:
    result = await promote(api, UNKNOWN_CUSTOMER)

    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "NOT_FOUND"
    assert result["id"] == UNKNOWN_CUSTOMER


async def test_promotional_credits_repeated_with_their_key_replay(api: Api) -> None:
    customer_id = await new_customer(api)
    first = await promote(api, customer_id, key="welcome", amount="25.0")

    again = await promote(api, customer_id, key="welcome", amount="25", priority=10)
    other = await promote(api, customer_id, key="welcome", amount="26")

    assert again["replayed"] is True
    assert again["grant"] == first["grant"]
    assert (other["__typename"], other["key"]) == ("KeyConflictError", "welcome")
    assert await counts(api, customer_id) == (1, 1)
