"""Concurrent HTTP requests to one app: no overdraft, no duplicate, no lost update (§7, §8)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.domain.time import FrozenClock
from app.services.verify import verify
from tests.api.conftest import START, Api
from tests.api.test_queries_helpers import (
    BALANCE_FIELDS,
    GRANT_FIELDS,
    balance,
    consume,
    create_customer,
    grant_ids,
    ledger,
    promo,
)

CONSUME = """mutation($input: ConsumeCreditsInput!) { consumeCredits(input: $input) {
  __typename
  ... on ConsumeCreditsSuccess { replayed consumption { id consumed } balance { available } }
  ... on InsufficientCreditsError { available requested }
  ... on Error { code message }
} }"""
REVERSE = """mutation($input: ReverseCreditConsumptionInput!) {
  reverseCreditConsumption(input: $input) {
    __typename
    ... on ReverseCreditConsumptionSuccess { replayed consumption { reversed } }
    ... on ValidationError { issues { field message } }
    ... on Error { code message }
  }
}"""
BALANCE_QUERY = f"""query($id: ID!) {{
  customer(id: $id) {{ creditBalance(currency: "USD") {{ {BALANCE_FIELDS} }} }}
}}"""
PURCHASE = f"""mutation($input: PurchaseCreditsInput!) {{ purchaseCredits(input: $input) {{
  __typename
  ... on CreditGrantSuccess {{ replayed grant {{ {GRANT_FIELDS} }} balance {{ {BALANCE_FIELDS} }} }}
  ... on Error {{ code message }}
}} }}"""


async def at_once(api: Api, requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Send every request concurrently; each answer must be data without GraphQL errors."""
    bodies = await asyncio.gather(*(api.raw(query, **variables) for query, variables in requests))
    for body in bodies:
        assert "errors" not in body, body
    return [next(iter(body["data"].values())) for body in bodies]


def consumption(customer: str, key: str, amount: str = "1") -> tuple[str, dict[str, Any]]:
    return CONSUME, {
        "input": {"customerId": customer, "key": key, "currency": "USD", "amount": amount}
    }


def reversal(consumption_id: str, key: str, amount: str | None) -> tuple[str, dict[str, Any]]:
    return REVERSE, {"input": {"consumptionId": consumption_id, "key": key, "amount": amount}}


def assert_gapless(entries: list[dict[str, Any]]) -> None:
    """Sequence 1..n with the available balance chained from zero, per currency."""
    for currency in {e["currency"] for e in entries}:
        mine = sorted(
            (e for e in entries if e["currency"] == currency), key=lambda e: e["sequence"]
        )
        assert [e["sequence"] for e in mine] == list(range(1, len(mine) + 1))
        available = Decimal(0)
        for entry in mine:
            assert Decimal(entry["availableBalanceBefore"]) == available
            available += Decimal(entry["amount"])
            assert Decimal(entry["availableBalanceAfter"]) == available >= 0


def assert_balanced(figures: dict[str, Any]) -> None:
    funded, consumed, expired, voided, available = (
        Decimal(figures[k]) for k in ("funded", "consumed", "expired", "voided", "available")
    )
    assert funded - consumed - expired - voided == available, figures
    assert available >= 0


async def test_fifty_concurrent_consumptions_of_twenty_credits_succeed_exactly_twenty_times(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "20")

    results = await at_once(api, [consumption(customer, f"c-{i}") for i in range(50)])

    kinds = Counter(result["__typename"] for result in results)
    assert kinds == {"ConsumeCreditsSuccess": 20, "InsufficientCreditsError": 30}
    assert all(not r["replayed"] for r in results if r["__typename"] == "ConsumeCreditsSuccess")
    assert sorted(
        r["balance"]["available"] for r in results if r["__typename"] == "ConsumeCreditsSuccess"
    ) == sorted(f"{n}.00" for n in range(20))
    final = await balance(api, customer)
    assert (final["available"], final["consumed"], final["sequence"]) == ("0.00", "20.00", 21)
    entries = await ledger(api, customer)
    assert Counter(e["type"] for e in entries) == {"FUNDED": 1, "CONSUMED": 20}
    assert_gapless(entries)
    assert await verify(api.app.state.runtime.engine) == []


async def test_twenty_identical_keyed_purchases_at_once_create_one_grant(api: Api) -> None:
    customer = await create_customer(api, "acme")
    purchase = {
        "customerId": customer,
        "key": "order-42",
        "name": "Pack",
        "currency": "USD",
        "amount": "100",
        "fundingMethod": "INVOICE",
        "purchase": {"perUnitCostBasis": "0.5"},
    }

    results = await at_once(api, [(PURCHASE, {"input": purchase})] * 20)

    assert Counter(r["__typename"] for r in results) == {"CreditGrantSuccess": 20}
    assert Counter(r["replayed"] for r in results) == {False: 1, True: 19}
    assert len({r["grant"]["id"] for r in results}) == 1
    assert await grant_ids(api, customer) == [results[0]["grant"]["id"]]
    final = await balance(api, customer)
    assert (final["available"], final["funded"], final["sequence"]) == ("100.00", "100.00", 1)
    assert await verify(api.app.state.runtime.engine) == []


async def test_twenty_identical_keyed_consumptions_at_once_consume_once(api: Api) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")

    results = await at_once(api, [consumption(customer, "charge-1", "3")] * 20)

    assert Counter(r["__typename"] for r in results) == {"ConsumeCreditsSuccess": 20}
    assert Counter(r["replayed"] for r in results) == {False: 1, True: 19}
    assert len({r["consumption"]["id"] for r in results}) == 1
    assert (await balance(api, customer))["available"] == "7.00"
    assert await verify(api.app.state.runtime.engine) == []


async def test_concurrent_reversals_of_one_consumption_never_give_back_more_than_it_took(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")
    taken = await consume(api, customer, "charge-1", "4")

    results = await at_once(api, [reversal(taken["id"], f"r-{i}", "1") for i in range(10)])

    kinds = Counter(r["__typename"] for r in results)
    assert kinds == {"ReverseCreditConsumptionSuccess": 4, "ValidationError": 6}
    assert all(
        r["issues"][0]["field"] == ["input", "amount"]
        for r in results
        if r["__typename"] == "ValidationError"
    )
    final = await balance(api, customer)
    assert (final["available"], final["consumed"]) == ("10.00", "0.00")
    assert_gapless(await ledger(api, customer))
    assert await verify(api.app.state.runtime.engine) == []


async def test_mixed_concurrent_consumptions_and_reversals_keep_the_books_balanced(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    other = await create_customer(api, "other")
    await promo(api, customer, "30", priority=1, expiresAt="2026-01-15T13:00:00Z")
    await promo(api, customer, "25")
    await promo(api, other, "5")
    earlier = [await consume(api, customer, f"early-{i}", "2") for i in range(10)]
    clock.set(START + timedelta(hours=2))  # the first grant's expiry is due; nothing booked it

    requests = [consumption(customer, f"late-{i}", "1.5") for i in range(20)]
    requests += [reversal(c["id"], f"undo-{i}", "1") for i, c in enumerate(earlier)]
    requests += [reversal(c["id"], f"undo-all-{i}", None) for i, c in enumerate(earlier[:5])]
    requests += [consumption(other, f"other-{i}") for i in range(8)]
    requests += [(BALANCE_QUERY, {"id": customer})] * 5
    results = await at_once(api, requests)

    # every balance answered while the others wrote was a consistent one
    for result in results[-5:]:
        assert_balanced(result["creditBalance"])
    # credits restored to the expired grant are forfeited at once: only the 25 are consumable
    late = Counter(r["__typename"] for r in results[:20])
    assert late == {"ConsumeCreditsSuccess": 16, "InsufficientCreditsError": 4}
    final = await balance(api, customer)
    assert_balanced(final)
    assert {k: final[k] for k in ("available", "funded", "consumed", "expired", "voided")} == {
        "available": "1.00",
        "funded": "55.00",
        "consumed": "29.00",  # 20 early + 24 late - 15 reversed
        "expired": "25.00",  # 10 at expiry + the 15 restored to the expired grant
        "voided": "0.00",
    }
    reversed_now = await api(
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on CreditConsumption { reversed } } }",
        ids=[c["id"] for c in earlier],
    )
    assert [n["reversed"] for n in reversed_now["nodes"]] == ["2.00"] * 5 + ["1.00"] * 5
    entries = await ledger(api, customer)
    assert_gapless(entries)
    in_sequence = [e["bookedAt"] for e in sorted(entries, key=lambda e: e["sequence"])]
    assert in_sequence == sorted(in_sequence)
    scheduled = [e for e in entries if e["actor"]["type"] == "SYSTEM"]
    assert [(e["type"], e["amount"], e["bookedAt"]) for e in scheduled] == [
        ("EXPIRED", "-10.00", "2026-01-15T13:00:00Z")
    ]
    other_final = await balance(api, other)
    assert (other_final["available"], other_final["consumed"]) == ("0.00", "5.00")
    assert_gapless(await ledger(api, other))
    assert await verify(api.app.state.runtime.engine) == []
