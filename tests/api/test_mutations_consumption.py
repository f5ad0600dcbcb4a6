"""consumeCredits and reverseCreditConsumption over HTTP: burn order, keys, every error."""

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
    UNKNOWN_CONSUMPTION,
    UNKNOWN_CUSTOMER,
    case,
    consume,
    consumed,
    counts,
    entries,
    fields_of,
    granted,
    moves,
    new_customer,
    outcome,
    reverse,
    void,
    written,
)

NOW = "2026-01-15T12:00:00Z"
OPEN_ACTOR = {"type": "OPEN", "id": None, "name": "open"}


async def five_grants(api: Api) -> str:
    """Five 10 USD grants whose burn order for feature api_calls is C, D, P, Q, A."""
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, name="A", amount="10", priority=20)
    await granted(api, PURCHASE, customer_id, name="Q", amount="10", purchase={
        "perUnitCostBasis": "0.5"
    })  # fmt: skip
    await granted(api, PROMOTE, customer_id, name="P", amount="10")
    await granted(api, PROMOTE, customer_id, name="D", amount="10", expiresAfter="P30D")
    await granted(api, PROMOTE, customer_id, name="C", amount="10", features=["api_calls"])
    return customer_id


async def ledger_size(api: Api, customer_id: str) -> int:
    return (await counts(api, customer_id))[1]


# ---------------------------------------------------------------- consumeCredits


async def test_consume_credits_draws_grants_in_burn_order(api: Api) -> None:
    customer_id = await five_grants(api)

    result = await consume(api, customer_id, "usage-1", "45", featureKey="api_calls")

    assert result["__typename"] == "ConsumeCreditsSuccess"
    assert result["replayed"] is False
    drawn = result["consumption"]["entries"]
    assert moves(drawn) == [
        ("CONSUMED", "C", "-10.00"),  # restricted to the feature before unrestricted
        ("CONSUMED", "D", "-10.00"),  # expiring before never-expiring
        ("CONSUMED", "P", "-10.00"),  # promotional (cost basis 0) before paid
        ("CONSUMED", "Q", "-10.00"),
        ("CONSUMED", "A", "-5.00"),  # priority 20 last
    ]
    assert [(e["availableBalanceBefore"], e["availableBalanceAfter"]) for e in drawn] == [
        ("50.00", "40.00"),
        ("40.00", "30.00"),
        ("30.00", "20.00"),
        ("20.00", "10.00"),
        ("10.00", "5.00"),
    ]
    assert [entry["sequence"] for entry in drawn] == [6, 7, 8, 9, 10]
    assert len({entry["transactionId"] for entry in drawn}) == 1


async def test_burn_order_breaks_ties_by_effective_time(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, name="now", amount="10")
    await granted(
        api, PROMOTE, customer_id, name="earlier", amount="10", effectiveAt="2026-01-01T00:00:00Z"
    )
    await granted(api, PROMOTE, customer_id, name="later", amount="10")

    result = await consume(api, customer_id, "usage-1", "25")

    assert moves(result["consumption"]["entries"]) == [
        ("CONSUMED", "earlier", "-10.00"),
        ("CONSUMED", "now", "-10.00"),
        ("CONSUMED", "later", "-5.00"),
    ]


async def test_burn_order_draws_the_soonest_expiry_first(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(
        api, PROMOTE, customer_id, name="June", amount="10", expiresAt="2026-06-01T00:00:00Z"
    )
    await granted(
        api, PROMOTE, customer_id, name="March", amount="10", expiresAt="2026-03-01T00:00:00Z"
    )

    result = await consume(api, customer_id, "usage-1", "15")

    assert moves(result["consumption"]["entries"]) == [
        ("CONSUMED", "March", "-10.00"),
        ("CONSUMED", "June", "-5.00"),
    ]


async def test_burn_order_draws_the_lowest_cost_basis_first(api: Api) -> None:
    customer_id = await new_customer(api)
    for name, basis in [("dear", "2"), ("cheap", "0.25"), ("middle", "0.5")]:
        await granted(
            api, PURCHASE, customer_id, name=name, amount="10", purchase={"perUnitCostBasis": basis}
        )
    await granted(api, PROMOTE, customer_id, name="free", amount="10")

    result = await consume(api, customer_id, "usage-1", "35")

    assert moves(result["consumption"]["entries"]) == [
        ("CONSUMED", "free", "-10.00"),
        ("CONSUMED", "cheap", "-10.00"),
        ("CONSUMED", "middle", "-10.00"),
        ("CONSUMED", "dear", "-5.00"),
    ]


async def test_burn_order_compares_expiries_as_instants_whatever_their_offset(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(
        api, PROMOTE, customer_id, name="UTC", amount="10", expiresAt="2026-02-28T20:00:00Z"
    )
    await granted(
        api, PROMOTE, customer_id, name="+05", amount="10", expiresAt="2026-03-01T00:00:00+05:00"
    )

    result = await consume(api, customer_id, "usage-1", "15")

    assert moves(result["consumption"]["entries"]) == [
        ("CONSUMED", "+05", "-10.00"),
        ("CONSUMED", "UTC", "-5.00"),
    ]


async def test_a_consumption_draws_credits_funded_since_by_their_schedule(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, name="now", amount="5")
    await granted(
        api, PROMOTE, customer_id, name="later", amount="10", effectiveAt="2026-02-01T00:00:00Z"
    )
    clock.set(datetime(2026, 2, 3, tzinfo=UTC))

    result = await consume(api, customer_id, "usage-1", "12")

    assert moves(result["consumption"]["entries"]) == [
        ("CONSUMED", "now", "-5.00"),
        ("CONSUMED", "later", "-7.00"),
    ]
    ledger = await entries(api, customer_id)
    assert [(e["type"], e["sequence"], e["bookedAt"]) for e in ledger] == [
        ("FUNDED", 1, NOW),
        ("FUNDED", 2, "2026-02-01T00:00:00Z"),
        ("CONSUMED", 3, "2026-02-03T00:00:00Z"),
        ("CONSUMED", 4, "2026-02-03T00:00:00Z"),
    ]


async def test_consuming_exactly_what_is_available_depletes_the_grant(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")

    result = await consume(api, customer_id, "usage-1", "10.000")

    assert result["consumption"]["consumed"] == "10.00"
    assert result["balance"]["available"] == "0.00"
    node = (await written(api, customer_id))["creditGrants"]["edges"][0]["node"]
    assert (node["status"], node["remaining"]) == ("DEPLETED", "0.00")


async def test_consume_credits_answers_with_the_consumption_and_the_balance(api: Api) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PURCHASE, customer_id, amount="100", features=["api_calls"])

    result = await consume(
        api,
        customer_id,
        "usage-1",
        "12.34",
        featureKey="api_calls",
        description="Model calls, January",
        labels=[{"key": "request", "value": "r-1"}, {"key": "region", "value": "eu"}],
    )

    consumption = result["consumption"]
    assert consumption["id"].startswith("csm_")
    assert {k: v for k, v in consumption.items() if k != "entries"} == {
        "id": consumption["id"],
        "key": "usage-1",
        "currency": "USD",
        "featureKey": "api_calls",
        "description": "Model calls, January",
        "labels": [{"key": "request", "value": "r-1"}, {"key": "region", "value": "eu"}],
        "requested": "12.34",
        "consumed": "12.34",
        "shortfall": "0.00",
        "reversed": "0.00",
        "createdAt": NOW,
        "customer": {"id": customer_id},
    }
    [entry] = consumption["entries"]
    assert entry["id"].startswith("ent_")
    assert {k: entry[k] for k in ("type", "currency", "amount", "sequence", "bookedAt")} == {
        "type": "CONSUMED",
        "currency": "USD",
        "amount": "-12.34",
        "sequence": 2,
        "bookedAt": NOW,
    }
    assert (entry["featureKey"], entry["description"]) == ("api_calls", "Model calls, January")
    assert entry["labels"] == consumption["labels"]
    assert entry["grant"]["id"] == grant["id"]
    assert entry["consumption"] == {"id": consumption["id"]}
    assert entry["actor"] == OPEN_ACTOR
    assert result["balance"] == {
        "currency": "USD",
        "at": NOW,
        "featureKey": None,
        "available": "87.66",
        "pending": "0.00",
        "funded": "100.00",
        "consumed": "12.34",
        "expired": "0.00",
        "voided": "0.00",
        "availablePromotional": "0.00",
        "availablePaid": "87.66",
        "sequence": 2,
    }
    assert (await entries(api, customer_id))[-1] == entry


async def test_consume_credits_with_too_little_is_refused_with_the_exact_available(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10.25")
    await granted(api, PROMOTE, customer_id, amount="20", effectiveAt="2026-02-01T00:00:00Z")

    result = await consume(api, customer_id, "usage-1", "10.26")

    assert result["__typename"] == "InsufficientCreditsError"
    assert result["code"] == "INSUFFICIENT_CREDITS"
    assert (result["currency"], result["available"]) == ("USD", "10.25")
    assert result["requested"] == "10.26"
    assert await ledger_size(api, customer_id) == 1


async def test_insufficient_credits_reports_the_requested_amount_at_the_currency_scale(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")

    result = await consume(api, customer_id, "usage-1", "50")

    assert result["__typename"] == "InsufficientCreditsError"
    assert (result["requested"], result["available"]) == ("50.00", "10.00")


async def test_a_refused_consumption_does_not_use_up_its_key(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")
    refused = await consume(api, customer_id, "usage-1", "11")
    assert refused["__typename"] == "InsufficientCreditsError"

    result = await consume(api, customer_id, "usage-1", "10")

    assert result["__typename"] == "ConsumeCreditsSuccess"
    assert result["replayed"] is False


async def test_a_partial_consumption_takes_what_is_eligible_and_reports_the_shortfall(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, name="promo", amount="10")
    await granted(api, PURCHASE, customer_id, name="paid", amount="20")

    result = await consume(api, customer_id, "usage-1", "50", onInsufficient="PARTIAL")

    consumption = result["consumption"]
    assert (consumption["requested"], consumption["consumed"], consumption["shortfall"]) == (
        "50.00",
        "30.00",
        "20.00",
    )
    assert moves(consumption["entries"]) == [
        ("CONSUMED", "promo", "-10.00"),
        ("CONSUMED", "paid", "-20.00"),
    ]
    assert (result["balance"]["available"], result["balance"]["consumed"]) == ("0.00", "30.00")


async def test_a_partial_consumption_with_nothing_eligible_draws_nothing(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await consume(api, customer_id, "usage-1", "5", onInsufficient="PARTIAL")

    consumption = result["consumption"]
    assert (consumption["consumed"], consumption["shortfall"], consumption["entries"]) == (
        "0.00",
        "5.00",
        [],
    )
    assert result["balance"]["available"] == "0.00"


async def test_a_partial_consumption_with_enough_credits_has_no_shortfall(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")

    result = await consume(api, customer_id, "usage-1", "4", onInsufficient="PARTIAL")

    assert (result["consumption"]["consumed"], result["consumption"]["shortfall"]) == (
        "4.00",
        "0.00",
    )


@pytest.mark.parametrize(
    ("feature_key", "available"),
    [(None, "5.00"), ("storage", "5.00"), ("api_calls", "15.00")],
)
async def test_only_grants_unrestricted_or_listing_the_feature_are_eligible(
    api: Api, feature_key: str | None, available: str
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10", features=["api_calls", "chat"])
    await granted(api, PROMOTE, customer_id, amount="5")

    result = await consume(api, customer_id, "usage-1", "100", featureKey=feature_key)

    assert result["__typename"] == "InsufficientCreditsError"
    assert result["available"] == available


async def test_pending_expired_voided_and_other_currency_grants_are_not_eligible(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="1")
    await granted(api, PROMOTE, customer_id, amount="10", effectiveAt="2026-02-01T00:00:00Z")
    await granted(api, PROMOTE, customer_id, amount="10", expiresAfter="PT1H")
    voided = await granted(api, PROMOTE, customer_id, amount="10")
    await void(api, voided["id"])
    await granted(api, PROMOTE, customer_id, amount="10", currency="EUR")
    await granted(
        api, PURCHASE, customer_id, amount="10", purchase={"availabilityPolicy": "ON_SETTLEMENT"}
    )
    clock.advance(timedelta(hours=2))

    result = await consume(api, customer_id, "usage-1", "2")

    assert result["__typename"] == "InsufficientCreditsError"
    assert result["available"] == "1.00"


async def test_consume_credits_repeated_with_its_key_replays_the_first_answer(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")
    first = await consume(
        api,
        customer_id,
        "usage-1",
        "1.50",
        labels=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
    )
    clock.advance(timedelta(minutes=1))

    again = await consume(
        api,
        customer_id,
        "usage-1",
        "1.5",
        onInsufficient="REJECT",
        labels=[{"key": "b", "value": "2"}, {"key": "a", "value": "1"}],
    )

    assert again["__typename"] == "ConsumeCreditsSuccess"
    assert again["replayed"] is True
    assert again["consumption"] == first["consumption"]
    assert again["balance"]["available"] == "8.50"
    assert await ledger_size(api, customer_id) == 2


OTHER_CONSUMPTIONS: list[dict[str, Any]] = [
    {"amount": "2"},
    {"featureKey": "api_calls"},
    {"description": "other"},
    {"labels": [{"key": "a", "value": "1"}]},
    {"onInsufficient": "PARTIAL"},
    {"currency": "EUR"},
]


async def test_a_consumption_key_reused_with_another_input_is_a_key_conflict(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")
    await granted(api, PROMOTE, customer_id, amount="10", currency="EUR")
    await consumed(api, customer_id, "usage-1", "1")

    found = {}
    for index, changed in enumerate(OTHER_CONSUMPTIONS):
        result = await consume(api, customer_id, "usage-1", "1", **changed)
        found[case(index, changed)] = (result["__typename"], result.get("code"), result.get("key"))

    assert found == {
        case(i, changed): ("KeyConflictError", "KEY_CONFLICT", "usage-1")
        for i, changed in enumerate(OTHER_CONSUMPTIONS)
    }
    assert await ledger_size(api, customer_id) == 3


async def test_concurrent_consumptions_with_one_key_consume_once(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")

    results = await asyncio.gather(*(consume(api, customer_id, "usage-1", "3") for _ in range(4)))

    assert sorted(result["replayed"] for result in results) == [False, True, True, True]
    assert len({result["consumption"]["id"] for result in results}) == 1
    assert await ledger_size(api, customer_id) == 2


async def test_consumption_keys_are_a_namespace_apart_from_grant_keys(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, key="k-1", amount="10")

    result = await consume(api, customer_id, "k-1", "1")

    assert result["__typename"] == "ConsumeCreditsSuccess"
    assert result["replayed"] is False


BAD_CONSUMPTIONS: list[tuple[dict[str, Any], list[str]]] = [
    ({"amount": "0"}, ["input", "amount"]),
    ({"amount": "-1"}, ["input", "amount"]),
    ({"amount": "1.005"}, ["input", "amount"]),
    ({"currency": "XYZ"}, ["input", "currency"]),
    ({"key": ""}, ["input", "key"]),
    ({"key": "k" * 257}, ["input", "key"]),
    ({"featureKey": "Bad-Key"}, ["input", "featureKey"]),
    ({"featureKey": ""}, ["input", "featureKey"]),
    ({"description": "d" * 1025}, ["input", "description"]),
    ({"labels": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
     ["input", "labels", "1", "key"]),
    ({"customerId": "acme"}, ["input", "customerId"]),
]  # fmt: skip


async def test_consume_credits_refuses_any_invalid_field_and_writes_nothing(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")

    found = {}
    for index, (fields, _) in enumerate(BAD_CONSUMPTIONS):
        result = await consume(api, customer_id, "usage-1", "1", **fields)
        found[case(index, fields)] = outcome(result)

    assert found == {case(i, fields): [field] for i, (fields, field) in enumerate(BAD_CONSUMPTIONS)}
    assert await ledger_size(api, customer_id) == 1


async def test_consume_credits_reports_every_issue_at_once(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await consume(api, customer_id, "", "0", featureKey="X", currency="USD")

    assert sorted(fields_of(result)) == [
        ["input", "amount"],
        ["input", "featureKey"],
        ["input", "key"],
    ]


async def test_consume_credits_of_an_unknown_customer_is_not_found(api: Api) -> None:
    result = await consume(api, UNKNOWN_CUSTOMER, "usage-1", "1")

    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "NOT_FOUND"
    assert result["id"] == UNKNOWN_CUSTOMER


# ---------------------------------------------------------------- reverseCreditConsumption


async def test_a_full_reversal_restores_credits_in_reverse_burn_order(api: Api) -> None:
    customer_id = await five_grants(api)
    consumption_id = await consumed(api, customer_id, "usage-1", "25", featureKey="api_calls")

    result = await reverse(api, consumption_id, "refund-1", reason="duplicate charge")

    assert result["__typename"] == "ReverseCreditConsumptionSuccess"
    assert result["replayed"] is False
    restored = result["entries"]
    assert moves(restored) == [
        ("RESTORED", "P", "5.00"),
        ("RESTORED", "D", "10.00"),
        ("RESTORED", "C", "10.00"),
    ]
    assert [(e["availableBalanceBefore"], e["availableBalanceAfter"]) for e in restored] == [
        ("25.00", "30.00"),
        ("30.00", "40.00"),
        ("40.00", "50.00"),
    ]
    assert all(entry["consumption"] == {"id": consumption_id} for entry in restored)
    assert all(entry["description"] == "duplicate charge" for entry in restored)
    assert all(entry["featureKey"] == "api_calls" for entry in restored)
    consumption = result["consumption"]
    assert (consumption["consumed"], consumption["reversed"]) == ("25.00", "25.00")
    assert moves(consumption["entries"]) == [
        ("CONSUMED", "C", "-10.00"),
        ("CONSUMED", "D", "-10.00"),
        ("CONSUMED", "P", "-5.00"),
    ]
    assert (result["balance"]["available"], result["balance"]["consumed"]) == ("50.00", "0.00")


async def test_a_partial_reversal_gives_back_the_last_drawn_first(api: Api) -> None:
    customer_id = await new_customer(api)
    first = await granted(api, PROMOTE, customer_id, name="first", amount="10", priority=1)
    await granted(api, PROMOTE, customer_id, name="second", amount="10", priority=2)
    consumption_id = await consumed(api, customer_id, "usage-1", "15")

    partial = await reverse(api, consumption_id, "refund-1", amount="8")
    rest = await reverse(api, consumption_id, "refund-2")

    assert moves(partial["entries"]) == [
        ("RESTORED", "second", "5.00"),
        ("RESTORED", "first", "3.00"),
    ]
    assert partial["consumption"]["reversed"] == "8.00"
    assert moves(rest["entries"]) == [("RESTORED", "first", "7.00")]
    assert (rest["consumption"]["consumed"], rest["consumption"]["reversed"]) == (
        "15.00",
        "15.00",
    )
    grant = (await written(api, customer_id))["creditGrants"]["edges"]
    by_name = {edge["node"]["name"]: edge["node"] for edge in grant}
    assert (by_name["first"]["consumed"], by_name["first"]["remaining"]) == ("0.00", "10.00")
    assert by_name["first"]["id"] == first["id"]


async def test_a_reversal_makes_a_depleted_grant_active_again(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="10")
    consumption_id = await consumed(api, customer_id, "usage-1", "10")

    result = await reverse(api, consumption_id, "refund-1", amount="2.50")

    assert result["entries"][0]["grant"]["name"] == "Welcome bonus"
    grant = (await written(api, customer_id))["creditGrants"]["edges"][0]["node"]
    assert (grant["status"], grant["remaining"], grant["consumed"]) == ("ACTIVE", "2.50", "7.50")


@pytest.mark.parametrize("amount", ["15.01", "100"])
async def test_reversing_more_than_was_consumed_is_a_validation_error_on_amount(
    api: Api, amount: str
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")

    result = await reverse(api, consumption_id, "refund-1", amount=amount)

    assert fields_of(result) == [["input", "amount"]]
    assert await ledger_size(api, customer_id) == 2


async def test_reversing_more_than_is_left_after_an_earlier_reversal_is_refused(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")
    await reverse(api, consumption_id, "refund-1", amount="10")

    over = await reverse(api, consumption_id, "refund-2", amount="5.01")
    exact = await reverse(api, consumption_id, "refund-3", amount="5")

    assert fields_of(over) == [["input", "amount"]]
    assert exact["consumption"]["reversed"] == "15.00"


async def test_reversing_a_consumption_with_nothing_left_is_a_validation_error(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")
    await reverse(api, consumption_id, "refund-1")

    everything = await reverse(api, consumption_id, "refund-2")
    some = await reverse(api, consumption_id, "refund-3", amount="1")

    assert fields_of(everything) == [["input", "amount"]]
    assert fields_of(some) == [["input", "amount"]]
    assert await ledger_size(api, customer_id) == 3


async def test_reversing_a_partial_consumption_that_drew_nothing_is_a_validation_error(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    consumption_id = await consumed(api, customer_id, "usage-1", "5", onInsufficient="PARTIAL")

    result = await reverse(api, consumption_id, "refund-1")

    assert fields_of(result) == [["input", "amount"]]


async def test_credits_restored_to_a_grant_voided_since_are_forfeited_at_once(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id, name="bonus", amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "10")
    await void(api, grant["id"])

    result = await reverse(api, consumption_id, "refund-1")

    assert moves(result["entries"]) == [
        ("RESTORED", "bonus", "10.00"),
        ("VOIDED", "bonus", "-10.00"),
    ]
    assert [entry["availableBalanceAfter"] for entry in result["entries"]] == ["10.00", "0.00"]
    assert len({entry["transactionId"] for entry in result["entries"]}) == 1
    assert (result["balance"]["available"], result["balance"]["voided"]) == ("0.00", "20.00")
    assert result["balance"]["consumed"] == "0.00"
    node = (await written(api, customer_id))["creditGrants"]["edges"][0]["node"]
    assert (node["status"], node["remaining"], node["voided"]) == ("VOIDED", "0.00", "20.00")


async def test_credits_restored_to_a_grant_expired_since_are_forfeited_at_once(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, name="short", amount="20", expiresAfter="P1D")
    await granted(api, PROMOTE, customer_id, name="long", amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "30")
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))

    result = await reverse(api, consumption_id, "refund-1")

    assert moves(result["entries"]) == [
        ("RESTORED", "long", "10.00"),
        ("RESTORED", "short", "20.00"),
        ("EXPIRED", "short", "-20.00"),
    ]
    assert (result["balance"]["available"], result["balance"]["expired"]) == ("20.00", "20.00")


async def test_a_reversal_repeated_with_its_key_replays_and_writes_nothing(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")
    first = await reverse(api, consumption_id, "refund-1", amount="5.0", reason="goodwill")
    clock.advance(timedelta(minutes=5))

    again = await reverse(api, consumption_id, "refund-1", amount="5", reason="goodwill")

    assert again["__typename"] == "ReverseCreditConsumptionSuccess"
    assert again["replayed"] is True
    assert again["entries"] == first["entries"]
    assert again["consumption"]["reversed"] == "5.00"
    assert await ledger_size(api, customer_id) == 3


async def test_a_reversal_key_reused_with_another_input_is_a_key_conflict(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")
    await reverse(api, consumption_id, "refund-1", amount="5", reason="goodwill")

    other = await reverse(api, consumption_id, "refund-1", amount="4", reason="goodwill")
    reason = await reverse(api, consumption_id, "refund-1", amount="5", reason="other")
    everything = await reverse(api, consumption_id, "refund-1", reason="goodwill")

    for result in (other, reason, everything):
        assert (result["__typename"], result["code"], result["key"]) == (
            "KeyConflictError",
            "KEY_CONFLICT",
            "refund-1",
        )
    assert await ledger_size(api, customer_id) == 3


async def test_a_reversal_key_used_for_another_consumption_is_a_key_conflict(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    first = await consumed(api, customer_id, "usage-1", "5")
    second = await consumed(api, customer_id, "usage-2", "5")
    await reverse(api, first, "refund-1")

    result = await reverse(api, second, "refund-1")

    assert (result["__typename"], result["key"]) == ("KeyConflictError", "refund-1")


async def test_a_refused_reversal_does_not_use_up_its_key(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")
    refused = await reverse(api, consumption_id, "refund-1", amount="16")
    assert refused["__typename"] == "ValidationError"

    result = await reverse(api, consumption_id, "refund-1", amount="15")

    assert result["__typename"] == "ReverseCreditConsumptionSuccess"
    assert result["replayed"] is False


async def test_reversal_keys_are_a_namespace_apart_from_consumption_keys(api: Api) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")

    result = await reverse(api, consumption_id, "usage-1")

    assert result["__typename"] == "ReverseCreditConsumptionSuccess"


BAD_REVERSALS: list[tuple[dict[str, Any], list[str]]] = [
    ({"amount": "0"}, ["input", "amount"]),
    ({"amount": "-1"}, ["input", "amount"]),
    ({"amount": "1.001"}, ["input", "amount"]),
    ({"key": ""}, ["input", "key"]),
    ({"key": "k" * 257}, ["input", "key"]),
    ({"reason": "r" * 1025}, ["input", "reason"]),
    ({"consumptionId": "usage-1"}, ["input", "consumptionId"]),
]


async def test_reverse_credit_consumption_refuses_any_invalid_field_and_writes_nothing(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="20")
    consumption_id = await consumed(api, customer_id, "usage-1", "15")

    found = {}
    for index, (fields, _) in enumerate(BAD_REVERSALS):
        result = await reverse(api, consumption_id, "refund-1", **fields)
        found[case(index, fields)] = outcome(result)

    assert found == {case(i, fields): [field] for i, (fields, field) in enumerate(BAD_REVERSALS)}
    assert await ledger_size(api, customer_id) == 2


async def test_reversing_an_unknown_consumption_is_not_found(api: Api) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id)

    unknown = await reverse(api, UNKNOWN_CONSUMPTION, "refund-1")
    of_grant = await reverse(api, grant["id"], "refund-1")

    assert (unknown["__typename"], unknown["code"], unknown["id"]) == (
        "NotFoundError",
        "NOT_FOUND",
        UNKNOWN_CONSUMPTION,
    )
    assert (of_grant["__typename"], of_grant["id"]) == ("NotFoundError", grant["id"])
