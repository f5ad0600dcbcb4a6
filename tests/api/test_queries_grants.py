"""customer.creditGrants: every filter field at the right moments, and every order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import START, Api
from tests.api.test_queries_helpers import (
    consume,
    create_customer,
    grant_ids,
    instant,
    paid,
    promo,
    seed,
    settle,
    void,
)

STATUSES = ("PENDING", "ACTIVE", "DEPLETED", "EXPIRED", "VOIDED")


async def statuses_by_filter(
    api: Api, customer_id: str, names: dict[str, str]
) -> dict[str, set[str]]:
    """For each status, the names of the grants the status filter returns."""
    found: dict[str, set[str]] = {}
    for status in STATUSES:
        ids = await grant_ids(api, customer_id, {"status": [status]})
        found[status] = {names[i] for i in ids}
    return found


async def statuses_by_field(
    api: Api, customer_id: str, names: dict[str, str]
) -> dict[str, set[str]]:
    """For each status, the names of the grants whose own `status` field says it."""
    data = await api(
        "query($id: ID!) { customer(id: $id) { creditGrants(first: 500) "
        "{ edges { node { id status } } } } }",
        id=customer_id,
    )
    found: dict[str, set[str]] = {status: set() for status in STATUSES}
    for edge in data["customer"]["creditGrants"]["edges"]:
        found[edge["node"]["status"]].add(names[edge["node"]["id"]])
    return found


async def test_status_filter_follows_each_grant_through_time(api: Api, clock: FrozenClock) -> None:
    customer = await create_customer(api, "acme")
    later = START + timedelta(days=1)
    grants = {
        "active": await promo(api, customer, "10"),
        "future": await promo(api, customer, "5", effectiveAt=instant(later)),
        "unpaid": await paid(
            api,
            customer,
            "7",
            purchase={"availabilityPolicy": "ON_SETTLEMENT"},
            expiresAfter="P2D",
        ),
        "expiring": await promo(api, customer, "4", expiresAfter="P2D"),
        "depleted": await promo(api, customer, "3", priority=1, expiresAfter="P2D"),
        "voided": await promo(api, customer, "6"),
    }
    names = {grant["id"]: name for name, grant in grants.items()}
    await consume(api, customer, "all-of-depleted", "3")
    await void(api, grants["voided"]["id"])

    expected_now = {
        "PENDING": {"future", "unpaid"},
        "ACTIVE": {"active", "expiring"},
        "DEPLETED": {"depleted"},
        "EXPIRED": set(),
        "VOIDED": {"voided"},
    }
    assert await statuses_by_filter(api, customer, names) == expected_now
    assert await statuses_by_field(api, customer, names) == expected_now

    clock.set(later)
    expected_a_day_later = expected_now | {
        "PENDING": {"unpaid"},
        "ACTIVE": {"active", "expiring", "future"},
    }
    assert await statuses_by_filter(api, customer, names) == expected_a_day_later
    assert await statuses_by_field(api, customer, names) == expected_a_day_later

    clock.set(START + timedelta(days=3))
    expected_after_expiry = {
        "PENDING": set(),
        "ACTIVE": {"active", "future"},
        "DEPLETED": {"depleted"},  # consumed entirely before it expired: nothing forfeited
        "EXPIRED": {"expiring", "unpaid"},  # one forfeited credits, one was never funded
        "VOIDED": {"voided"},
    }
    assert await statuses_by_filter(api, customer, names) == expected_after_expiry
    assert await statuses_by_field(api, customer, names) == expected_after_expiry


async def test_status_filter_just_before_and_at_the_effective_instant(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    effective = START + timedelta(hours=2)
    future = await promo(api, customer, "5", effectiveAt=instant(effective))

    clock.set(effective - timedelta(microseconds=1))
    assert await grant_ids(api, customer, {"status": ["PENDING"]}) == [future["id"]]
    assert await grant_ids(api, customer, {"status": ["ACTIVE"]}) == []

    clock.set(effective)
    assert await grant_ids(api, customer, {"status": ["PENDING"]}) == []
    assert await grant_ids(api, customer, {"status": ["ACTIVE"]}) == [future["id"]]


async def test_status_filter_with_several_statuses_is_their_union(api: Api) -> None:
    customer = await create_customer(api, "acme")
    active = await promo(api, customer, "10")
    pending = await paid(api, customer, "7", purchase={"availabilityPolicy": "ON_AUTHORIZATION"})
    voided = await promo(api, customer, "6")
    await void(api, voided["id"])

    found = await grant_ids(api, customer, {"status": ["VOIDED", "PENDING"]})
    everything = await grant_ids(api, customer, {"status": list(STATUSES)})

    assert set(found) == {pending["id"], voided["id"]}
    assert set(everything) == {active["id"], pending["id"], voided["id"]}


async def test_a_pending_payment_turns_active_when_settled_and_voided_when_failed(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")
    settling = await paid(api, customer, "7", purchase={"availabilityPolicy": "ON_SETTLEMENT"})
    failing = await paid(api, customer, "8", purchase={"availabilityPolicy": "ON_SETTLEMENT"})
    assert set(await grant_ids(api, customer, {"status": ["PENDING"]})) == {
        settling["id"],
        failing["id"],
    }

    await settle(api, settling["id"], "SETTLED")
    await settle(api, failing["id"], "FAILED")

    assert await grant_ids(api, customer, {"status": ["PENDING"]}) == []
    assert await grant_ids(api, customer, {"status": ["ACTIVE"]}) == [settling["id"]]
    assert await grant_ids(api, customer, {"status": ["VOIDED"]}) == [failing["id"]]


async def populate_assortment(api: Api, clock: FrozenClock) -> dict[str, Any]:
    """Grants of every currency, funding method, settlement status and feature set."""
    customer = await create_customer(api, "acme")
    authorized = {"settlementStatus": "AUTHORIZED"}
    grants = {
        "promo": await promo(api, customer, "1"),
        "invoice": await paid(api, customer, "2"),
        "external": await paid(api, customer, "3", fundingMethod="EXTERNAL", purchase=authorized),
        "settled": await paid(api, customer, "4"),
        "failed": await paid(api, customer, "5"),
        "eur-chat": await promo(api, customer, "6", "EUR", features=["chat"]),
        "eur-images": await paid(
            api,
            customer,
            "7",
            "EUR",
            key="eur-pack",
            fundingMethod="EXTERNAL",
            features=["images", "chat_v2"],
        ),
    }
    await settle(api, grants["settled"]["id"], "SETTLED")
    await settle(api, grants["failed"]["id"], "FAILED")
    # a customer of its own in the same currency must never show up
    other = await create_customer(api, "other")
    await promo(api, other, "9")
    await paid(api, other, "9", key="eur-pack")
    return {"customer": customer, "names": {g["id"]: n for n, g in grants.items()}}


@pytest.fixture
async def assortment_seed(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, clock: FrozenClock
) -> dict[str, Any]:
    return await seed("grant-assortment", populate_assortment, tmp_path_factory, tmp_path, clock)


@pytest.fixture
async def assortment(assortment_seed: dict[str, Any], api: Api) -> dict[str, Any]:
    return {"api": api, **assortment_seed}


async def filtered(assortment: dict[str, Any], **filter: Any) -> set[str]:
    ids = await grant_ids(assortment["api"], assortment["customer"], filter)
    return {assortment["names"][i] for i in ids}


async def test_grants_filtered_by_currency(assortment: dict[str, Any]) -> None:
    assert await filtered(assortment, currency="EUR") == {"eur-chat", "eur-images"}
    assert await filtered(assortment, currency="USD") == {
        "promo",
        "invoice",
        "external",
        "settled",
        "failed",
    }
    assert await filtered(assortment, currency="JPY") == set()


async def test_grants_filtered_by_funding_method(assortment: dict[str, Any]) -> None:
    assert await filtered(assortment, fundingMethod=["NONE"]) == {"promo", "eur-chat"}
    assert await filtered(assortment, fundingMethod=["INVOICE"]) == {
        "invoice",
        "settled",
        "failed",
    }
    assert await filtered(assortment, fundingMethod=["EXTERNAL"]) == {"external", "eur-images"}
    assert await filtered(assortment, fundingMethod=["EXTERNAL", "NONE"]) == {
        "promo",
        "eur-chat",
        "external",
        "eur-images",
    }


async def test_grants_filtered_by_settlement_status(assortment: dict[str, Any]) -> None:
    assert await filtered(assortment, settlementStatus=["PENDING"]) == {"invoice", "eur-images"}
    assert await filtered(assortment, settlementStatus=["AUTHORIZED"]) == {"external"}
    assert await filtered(assortment, settlementStatus=["SETTLED"]) == {"settled"}
    assert await filtered(assortment, settlementStatus=["FAILED"]) == {"failed"}
    assert await filtered(assortment, settlementStatus=["AUTHORIZED", "SETTLED"]) == {
        "external",
        "settled",
    }


async def test_grants_filtered_by_key(assortment: dict[str, Any]) -> None:
    assert await filtered(assortment, key="eur-pack") == {"eur-images"}
    assert await filtered(assortment, key="EUR-PACK") == set()
    assert await filtered(assortment, key="eur") == set()


async def test_grants_filtered_by_feature_key_are_unrestricted_or_listing_it(
    assortment: dict[str, Any],
) -> None:
    unrestricted = {"promo", "invoice", "external", "settled", "failed"}

    assert await filtered(assortment, featureKey="chat") == unrestricted | {"eur-chat"}
    assert await filtered(assortment, featureKey="images") == unrestricted | {"eur-images"}
    assert await filtered(assortment, featureKey="chat_v2") == unrestricted | {"eur-images"}
    assert await filtered(assortment, featureKey="video") == unrestricted


async def test_grant_filter_fields_combine_with_and(assortment: dict[str, Any]) -> None:
    assert await filtered(assortment, currency="EUR", featureKey="chat") == {"eur-chat"}
    assert await filtered(assortment, currency="EUR", fundingMethod=["INVOICE"]) == set()
    assert await filtered(
        assortment, fundingMethod=["INVOICE"], settlementStatus=["SETTLED", "FAILED"]
    ) == {"settled", "failed"}
    assert await filtered(assortment, status=["VOIDED"], currency="USD") == {"failed"}


# ---------------------------------------------------------------- order


async def ordered(api: Api, customer: str, field: str, direction: str | None) -> list[str]:
    order = {"field": field} if direction is None else {"field": field, "direction": direction}
    full = await grant_ids(api, customer, order_by=order)
    # the same order page by page
    walked: list[str] = []
    after = None
    while True:
        data = await api(
            """query($id: ID!, $after: String, $orderBy: CreditGrantOrder) {
              customer(id: $id) {
                creditGrants(first: 2, after: $after, orderBy: $orderBy) {
                  pageInfo { hasNextPage endCursor } edges { node { id } }
                }
              }
            }""",
            id=customer,
            after=after,
            orderBy=order,
        )
        connection = data["customer"]["creditGrants"]
        walked += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert walked == full
    return full


async def populate_scrambled(api: Api, clock: FrozenClock) -> dict[str, Any]:
    """Grants whose creation, effective, expiry and priority orders all differ, with ties."""
    customer = await create_customer(api, "acme")
    day = timedelta(days=1)
    specs = [
        # (effectiveAt, expiresAt or None, priority)
        (START + timedelta(hours=3), START + 10 * day, 30),
        (START - 2 * day, None, 10),
        (START + timedelta(hours=1), START + 5 * day, 50),
        (START - day, START + 20 * day, 20),
        (None, START + 7 * day, 40),
        (START - day, START + 5 * day, 10),  # ties with earlier grants on every field
        (START + timedelta(hours=1), None, 20),
    ]
    grants = []
    for effective, expires, priority in specs:
        clock.advance(timedelta(minutes=1))
        fields: dict[str, Any] = {"priority": priority}
        if effective is not None:
            fields["effectiveAt"] = instant(effective)
        if expires is not None:
            fields["expiresAt"] = instant(expires)
        grants.append(await promo(api, customer, "1", **fields))
    return {"customer": customer, "grants": grants}


@pytest.fixture
async def scrambled_seed(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, clock: FrozenClock
) -> dict[str, Any]:
    return await seed("grant-orders", populate_scrambled, tmp_path_factory, tmp_path, clock)


@pytest.fixture
async def scrambled(scrambled_seed: dict[str, Any], api: Api) -> dict[str, Any]:
    return {"api": api, **scrambled_seed}


SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "CREATED_AT": lambda g: g["createdAt"],
    "EFFECTIVE_AT": lambda g: g["effectiveAt"],
    "EXPIRES_AT": lambda g: g["expiresAt"] or "9999",
    "PRIORITY": lambda g: g["priority"],
}


@pytest.mark.parametrize("field", SORT_KEYS)
async def test_grants_ordered_by_a_field_ascending_or_descending_break_ties_by_id(
    scrambled: dict[str, Any], field: str
) -> None:
    key = SORT_KEYS[field]
    ascending = [g["id"] for g in sorted(scrambled["grants"], key=lambda g: (key(g), g["id"]))]

    found_asc = await ordered(scrambled["api"], scrambled["customer"], field, "ASC")
    found_desc = await ordered(scrambled["api"], scrambled["customer"], field, "DESC")
    found_default = await ordered(scrambled["api"], scrambled["customer"], field, None)

    assert found_asc == ascending
    assert found_desc == ascending[::-1]
    assert found_default == ascending


async def test_grants_without_an_order_are_in_creation_order(scrambled: dict[str, Any]) -> None:
    found = await grant_ids(scrambled["api"], scrambled["customer"])

    assert found == [g["id"] for g in scrambled["grants"]]


async def test_burn_order_is_the_order_consumption_draws_in(api: Api, clock: FrozenClock) -> None:
    customer = await create_customer(api, "acme")
    soon = instant(START + timedelta(days=5))
    later = instant(START + timedelta(days=10))
    past = instant(START - timedelta(days=1))
    cost = {"perUnitCostBasis": "2"}
    made = {}
    # created in an order unlike the burn order; each line notes what decides its place
    made["d"] = await paid(api, customer, "1", priority=10, expiresAt=later, purchase=cost)
    made["a"] = await promo(api, customer, "1", priority=5)  # unrestricted after restricted
    made["h2"] = await paid(api, customer, "1", priority=20, effectiveAt=past)
    made["e"] = await paid(
        api, customer, "1", priority=10, expiresAt=soon, purchase={"perUnitCostBasis": "3"}
    )
    made["b"] = await promo(api, customer, "1", priority=5, features=["chat"])
    made["c"] = await promo(api, customer, "1", priority=1)  # lowest priority first
    made["f"] = await promo(api, customer, "1", priority=10, expiresAt=later)  # cost 0
    made["g"] = await paid(
        api, customer, "1", priority=10, expiresAt=later, effectiveAt=past, purchase=cost
    )
    clock.advance(timedelta(minutes=1))
    made["h3"] = await paid(api, customer, "1", priority=20, effectiveAt=past)  # created later
    names = {grant["id"]: name for name, grant in made.items()}

    burn = await ordered(api, customer, "BURN_ORDER", "ASC")
    backwards = await ordered(api, customer, "BURN_ORDER", "DESC")
    consumption = await consume(api, customer, "everything", "9", featureKey="chat")

    assert [names[i] for i in burn] == ["c", "b", "a", "e", "f", "g", "d", "h2", "h3"]
    assert backwards == burn[::-1]
    assert [entry["grant"]["id"] for entry in consumption["entries"]] == burn


async def test_burn_order_matches_partial_draws_one_at_a_time(api: Api, clock: FrozenClock) -> None:
    customer = await create_customer(api, "acme")
    for priority in (7, 3, 9, 3, 5):
        clock.advance(timedelta(seconds=1))
        await promo(api, customer, "2", priority=priority)
    burn = await ordered(api, customer, "BURN_ORDER", None)

    drawn = []
    for i in range(10):
        consumption = await consume(api, customer, f"one-{i}", "1")
        drawn += [entry["grant"]["id"] for entry in consumption["entries"]]

    assert drawn == [grant for grant in burn for _ in range(2)]
