"""The ledger as queried: order, filters, sequence, balance chain, transactions (DESIGN §5)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import START, Api
from tests.api.test_queries_helpers import (
    ENTRY_FIELDS,
    balance,
    consume,
    create_customer,
    error_codes,
    instant,
    ledger,
    paid,
    promo,
    reverse,
    seed,
    settle,
    void,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def populate(api: Api, clock: FrozenClock) -> dict[str, Any]:
    """Two customers, two currencies, every entry type, scheduled funding and expiry."""
    acme = await create_customer(api, "acme")
    other = await create_customer(api, "other")
    grants = {
        "promo": await promo(api, acme, "10", priority=5),
        "chat": await paid(api, acme, "20", priority=5, features=["chat"]),
        "images": await promo(api, acme, "6", priority=5, features=["images"]),
        "euro": await promo(api, acme, "5", "EUR"),
        "expiring": await promo(api, acme, "8", priority=1, expiresAfter="P1D"),
        "future": await paid(api, acme, "4", effectiveAt=instant(START + 2 * HOUR)),
        "other": await promo(api, other, "3"),
    }
    clock.set(START + HOUR)
    consumptions = {
        "both": await consume(api, acme, "c-both", "10"),  # expiring 8, then promo 2
        "chat": await consume(api, acme, "c-chat", "5", featureKey="chat"),
        "images": await consume(api, acme, "c-images", "1", featureKey="images"),
        "euro": await consume(api, acme, "c-euro", "2", "EUR"),
        "other": await consume(api, other, "c-other", "1"),
    }
    clock.set(START + 2 * HOUR + 30 * timedelta(minutes=1))  # funding of "future" is due
    await void(api, grants["promo"]["id"])
    clock.set(START + 3 * HOUR)
    reversal = await reverse(api, consumptions["both"]["id"], "r-both")
    clock.set(START + DAY + HOUR)  # expiry of "expiring" is due
    consumptions["late"] = await consume(api, acme, "c-late", "1", featureKey="chat")
    return {
        "acme": acme,
        "other": other,
        "grants": {name: grant["id"] for name, grant in grants.items()},
        "consumptions": {name: c["id"] for name, c in consumptions.items()},
        "reversal": [entry["id"] for entry in reversal["entries"]],
    }


@pytest.fixture
async def seeded(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, clock: FrozenClock
) -> dict[str, Any]:
    return await seed("ledger", populate, tmp_path_factory, tmp_path, clock)


@pytest.fixture
async def books(seeded: dict[str, Any], api: Api) -> dict[str, Any]:
    """The seeded ids, the api, and acme's whole ledger (newest first)."""
    return {"api": api, **seeded, "entries": await ledger(api, seeded["acme"])}


def at(value: datetime) -> str:
    return instant(value)


def by_sequence(entries: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    return sorted((e for e in entries if e["currency"] == currency), key=lambda e: e["sequence"])


# ---------------------------------------------------------------- the whole ledger


async def test_the_scenario_books_the_entries_a_billing_engineer_expects(
    books: dict[str, Any],
) -> None:
    grants = {grant_id: name for name, grant_id in books["grants"].items()}
    summary = [
        (e["currency"], e["sequence"], e["type"], grants[e["grant"]["id"]], e["amount"])
        for e in sorted(books["entries"], key=lambda e: (e["currency"], e["sequence"]))
    ]

    assert summary[:2] == [
        ("EUR", 1, "FUNDED", "euro", "5.00"),
        ("EUR", 2, "CONSUMED", "euro", "-2.00"),
    ]
    usd = summary[2:]
    assert usd[:8] == [
        ("USD", 1, "FUNDED", "promo", "10.00"),
        ("USD", 2, "FUNDED", "chat", "20.00"),
        ("USD", 3, "FUNDED", "images", "6.00"),
        ("USD", 4, "FUNDED", "expiring", "8.00"),
        ("USD", 5, "CONSUMED", "expiring", "-8.00"),
        ("USD", 6, "CONSUMED", "promo", "-2.00"),
        ("USD", 7, "CONSUMED", "chat", "-5.00"),
        ("USD", 8, "CONSUMED", "images", "-1.00"),
    ]
    assert usd[8:10] == [
        ("USD", 9, "FUNDED", "future", "4.00"),
        ("USD", 10, "VOIDED", "promo", "-8.00"),
    ]
    # the reversal: back to promo (voided meanwhile, so forfeited at once) and expiring
    reversal = usd[10:13]
    assert [row[1] for row in reversal] == [11, 12, 13]
    assert Counter(row[2:] for row in reversal) == Counter(
        [
            ("RESTORED", "promo", "2.00"),
            ("VOIDED", "promo", "-2.00"),
            ("RESTORED", "expiring", "8.00"),
        ]
    )
    assert reversal.index(("USD", 12, "VOIDED", "promo", "-2.00")) > [
        r[2:4] for r in reversal
    ].index(("RESTORED", "promo"))
    assert usd[13:] == [
        ("USD", 14, "EXPIRED", "expiring", "-8.00"),
        ("USD", 15, "CONSUMED", "chat", "-1.00"),
    ]


async def test_the_ledger_is_newest_first(books: dict[str, Any]) -> None:
    entries = books["entries"]
    booked = [e["bookedAt"] for e in entries]

    assert booked == sorted(booked, reverse=True)
    for currency in ("USD", "EUR"):
        sequences = [e["sequence"] for e in entries if e["currency"] == currency]
        assert sequences == sorted(sequences, reverse=True)
    assert entries[0]["type"] == "CONSUMED"
    assert entries[0]["bookedAt"] == at(START + DAY + HOUR)
    assert entries[-1]["bookedAt"] == at(START)


async def test_each_currencys_sequence_is_gapless_from_one(books: dict[str, Any]) -> None:
    for currency, count in (("USD", 15), ("EUR", 2)):
        sequences = [e["sequence"] for e in by_sequence(books["entries"], currency)]
        assert sequences == list(range(1, count + 1))


async def test_available_before_and_after_chain_along_the_sequence(books: dict[str, Any]) -> None:
    for currency in ("USD", "EUR"):
        previous_after = Decimal(0)
        for entry in by_sequence(books["entries"], currency):
            before = Decimal(entry["availableBalanceBefore"])
            after = Decimal(entry["availableBalanceAfter"])
            assert before == previous_after, entry
            assert after == before + Decimal(entry["amount"]), entry
            assert after >= 0
            previous_after = after
        final = await balance(books["api"], books["acme"], currency)
        assert Decimal(final["available"]) == previous_after


async def test_booked_at_never_decreases_along_the_sequence(books: dict[str, Any]) -> None:
    for currency in ("USD", "EUR"):
        booked = [e["bookedAt"] for e in by_sequence(books["entries"], currency)]
        assert booked == sorted(booked)


async def test_time_driven_entries_are_booked_at_their_own_instant_by_the_system(
    books: dict[str, Any],
) -> None:
    grants = books["grants"]
    funded = [e for e in books["entries"] if e["grant"]["id"] == grants["future"]]
    expired = [e for e in books["entries"] if e["type"] == "EXPIRED"]

    assert [(e["type"], e["bookedAt"], e["actor"]) for e in funded] == [
        ("FUNDED", at(START + 2 * HOUR), {"type": "SYSTEM", "name": "system"})
    ]
    assert [(e["grant"]["id"], e["bookedAt"], e["actor"]) for e in expired] == [
        (grants["expiring"], at(START + DAY), {"type": "SYSTEM", "name": "system"})
    ]
    # written later than booked: by the catch-up of the next request
    assert funded[0]["createdAt"] == at(START + 2 * HOUR + 30 * timedelta(minutes=1))
    others = [e for e in books["entries"] if e not in funded and e not in expired]
    assert {e["actor"]["type"] for e in others} == {"OPEN"}
    assert all(e["bookedAt"] == e["createdAt"] for e in others)


async def test_entries_of_one_operation_share_a_transaction_id(books: dict[str, Any]) -> None:
    entries = books["entries"]
    consumptions = books["consumptions"]
    by_transaction: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        by_transaction[entry["transactionId"]].add(entry["id"])

    both = {e["id"] for e in entries if (e["consumption"] or {}).get("id") == consumptions["both"]}
    consumed_both = {
        e["id"]
        for e in entries
        if e["type"] == "CONSUMED" and e["consumption"]["id"] == consumptions["both"]
    }
    reversal = set(books["reversal"])

    assert len(consumed_both) == 2
    assert consumed_both in by_transaction.values()
    assert len(reversal) == 3
    assert reversal in by_transaction.values()
    restored = {e["id"] for e in entries if e["id"] in reversal and e["type"] == "RESTORED"}
    assert both == consumed_both | restored
    # every other operation (each creation, each time-driven event) is a transaction alone
    assert sorted(len(ids) for ids in by_transaction.values()) == [1] * 12 + [2, 3]
    assert all(t.startswith("txn_") for t in by_transaction)


async def test_a_consumptions_entries_are_its_consumed_entries_in_burn_order(
    books: dict[str, Any],
) -> None:
    data = await books["api"](
        f"query($id: ID!) {{ creditConsumption(id: $id) {{ entries {{ {ENTRY_FIELDS} }} }} }}",
        id=books["consumptions"]["both"],
    )
    entries = data["creditConsumption"]["entries"]

    assert [(e["type"], e["grant"]["id"], e["amount"]) for e in entries] == [
        ("CONSUMED", books["grants"]["expiring"], "-8.00"),
        ("CONSUMED", books["grants"]["promo"], "-2.00"),
    ]


# ---------------------------------------------------------------- filters


async def filtered(books: dict[str, Any], **filter: Any) -> list[dict[str, Any]]:
    return await ledger(books["api"], books["acme"], filter)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


async def test_ledger_filtered_by_types(books: dict[str, Any]) -> None:
    entries = books["entries"]

    consumed = await filtered(books, types=["CONSUMED"])
    funded_or_expired = await filtered(books, types=["FUNDED", "EXPIRED"])

    assert ids(consumed) == [e["id"] for e in entries if e["type"] == "CONSUMED"]
    assert len(consumed) == 6
    assert ids(funded_or_expired) == [
        e["id"] for e in entries if e["type"] in {"FUNDED", "EXPIRED"}
    ]
    assert Counter(e["type"] for e in funded_or_expired) == {"FUNDED": 6, "EXPIRED": 1}
    assert len(await filtered(books, types=["RESTORED"])) == 2
    assert len(await filtered(books, types=["VOIDED"])) == 2


async def test_ledger_filtered_by_currency(books: dict[str, Any]) -> None:
    euro = await filtered(books, currency="EUR")

    assert ids(euro) == [e["id"] for e in books["entries"] if e["currency"] == "EUR"]
    assert [e["sequence"] for e in euro] == [2, 1]
    assert await filtered(books, currency="JPY") == []


async def test_ledger_filtered_by_grant(books: dict[str, Any]) -> None:
    promo_id = books["grants"]["promo"]

    found = await filtered(books, grantId=promo_id)

    assert ids(found) == [e["id"] for e in books["entries"] if e["grant"]["id"] == promo_id]
    assert [e["type"] for e in found] == ["VOIDED", "RESTORED", "VOIDED", "CONSUMED", "FUNDED"]
    # another customer's grant has no entries in this customer's ledger
    assert await filtered(books, grantId=books["grants"]["other"]) == []


async def test_a_grants_own_entries_equal_the_ledger_filtered_by_that_grant(
    books: dict[str, Any],
) -> None:
    for grant_id in books["grants"].values():
        data = await books["api"](
            f"""query($id: ID!) {{ creditGrant(id: $id) {{
                  ledgerEntries(first: 500) {{ edges {{ node {{ {ENTRY_FIELDS} }} }} }}
            }} }}""",
            id=grant_id,
        )
        own = [edge["node"] for edge in data["creditGrant"]["ledgerEntries"]["edges"]]
        customer = books["other"] if grant_id == books["grants"]["other"] else books["acme"]
        assert own == await ledger(books["api"], customer, {"grantId": grant_id})


async def test_ledger_filtered_by_a_malformed_grant_id_is_a_bad_user_input_error(
    books: dict[str, Any],
) -> None:
    body = await books["api"].raw(
        'query($id: ID!) { customer(id: $id) { creditLedger(filter: {grantId: "nope"}) '
        "{ totalCount } } }",
        id=books["acme"],
    )
    root = await books["api"].raw('{ creditLedger(filter: {grantId: "grt_1"}) { totalCount } }')

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert error_codes(root) == ["BAD_USER_INPUT"]


async def test_ledger_filtered_by_an_unknown_grant_id_is_empty(books: dict[str, Any]) -> None:
    assert await filtered(books, grantId="grt_01ARZ3NDEKTSV4RRFFQ69G5FAV") == []


async def test_ledger_filtered_by_feature_key_keeps_grants_that_can_pay_for_it(
    books: dict[str, Any],
) -> None:
    grants = books["grants"]
    unrestricted = {grants[n] for n in ("promo", "euro", "expiring", "future")}
    for feature, listing in (("chat", {grants["chat"]}), ("images", {grants["images"]})):
        found = await filtered(books, featureKey=feature)
        expected = [e for e in books["entries"] if e["grant"]["id"] in unrestricted | listing]
        assert ids(found) == ids(expected), feature
    video = await filtered(books, featureKey="video")
    assert {e["grant"]["id"] for e in video} == unrestricted


async def test_feature_filtered_entries_add_up_to_that_features_balance(
    books: dict[str, Any],
) -> None:
    for feature in ("chat", "images", "video"):
        for currency in ("USD", "EUR"):
            entries = await filtered(books, featureKey=feature, currency=currency)
            figures = await balance(books["api"], books["acme"], currency, feature_key=feature)

            total = sum(Decimal(e["amount"]) for e in entries)
            assert total == Decimal(figures["available"]), (feature, currency)


async def test_feature_balances_of_the_scenario_are_exact(books: dict[str, Any]) -> None:
    api, acme = books["api"], books["acme"]

    assert (await balance(api, acme))["available"] == "23.00"
    assert (await balance(api, acme, feature_key="chat"))["available"] == "18.00"
    assert (await balance(api, acme, feature_key="images"))["available"] == "9.00"
    assert (await balance(api, acme, feature_key="video"))["available"] == "4.00"


async def test_booked_from_is_inclusive_and_booked_before_exclusive(books: dict[str, Any]) -> None:
    entries = books["entries"]
    one_hour = at(START + HOUR)

    since = await filtered(books, bookedFrom=one_hour)
    until = await filtered(books, bookedBefore=one_hour)
    exactly = await filtered(
        books, bookedFrom=one_hour, bookedBefore=at(START + HOUR + timedelta(microseconds=1))
    )

    assert ids(since) == [e["id"] for e in entries if e["bookedAt"] >= one_hour]
    assert ids(until) == [e["id"] for e in entries if e["bookedAt"] < one_hour]
    assert ids(since) + ids(until) == ids(entries)
    assert len(until) == 5
    assert [e["type"] for e in exactly] == ["CONSUMED"] * 5
    assert await filtered(books, bookedFrom=one_hour, bookedBefore=one_hour) == []


async def test_booked_bounds_with_an_offset_mean_the_same_instant(books: dict[str, Any]) -> None:
    utc = await filtered(books, bookedFrom=at(START + 2 * HOUR), bookedBefore=at(START + DAY))
    shifted = await filtered(
        books, bookedFrom="2026-01-15T16:00:00+02:00", bookedBefore="2026-01-16T07:00:00-05:00"
    )

    assert ids(shifted) == ids(utc)
    assert Counter(e["type"] for e in utc[:3]) == {"RESTORED": 2, "VOIDED": 1}
    assert [(e["type"], e["bookedAt"]) for e in utc[3:]] == [
        ("VOIDED", at(START + 2 * HOUR + 30 * timedelta(minutes=1))),
        ("FUNDED", at(START + 2 * HOUR)),
    ]


async def test_ledger_filters_combine_with_and(books: dict[str, Any]) -> None:
    found = await filtered(
        books, types=["CONSUMED"], currency="USD", featureKey="chat", bookedFrom=at(START + HOUR)
    )

    assert [(e["grant"]["id"], e["amount"]) for e in found] == [
        (books["grants"]["chat"], "-1.00"),
        (books["grants"]["chat"], "-5.00"),
        (books["grants"]["promo"], "-2.00"),
        (books["grants"]["expiring"], "-8.00"),
    ]


# ---------------------------------------------------------------- the root ledger


async def test_the_root_ledger_holds_every_customers_entries_newest_first(
    books: dict[str, Any],
) -> None:
    api = books["api"]
    data = await api(
        f"{{ creditLedger(first: 500) {{ totalCount edges {{ node {{ {ENTRY_FIELDS} "
        "customer { id } } } } }"
    )
    entries = [edge["node"] for edge in data["creditLedger"]["edges"]]
    mine = await ledger(api, books["other"])

    assert data["creditLedger"]["totalCount"] == 17 + 2
    assert Counter(e["customer"]["id"] for e in entries) == {books["acme"]: 17, books["other"]: 2}
    booked = [e["bookedAt"] for e in entries]
    assert booked == sorted(booked, reverse=True)
    assert [e["id"] for e in entries if e["customer"]["id"] == books["other"]] == ids(mine)
    assert [e["id"] for e in entries if e["customer"]["id"] == books["acme"]] == ids(
        books["entries"]
    )


async def test_the_root_ledger_filters_like_a_customers(books: dict[str, Any]) -> None:
    data = await books["api"](
        """{ creditLedger(first: 500, filter: {currency: "USD", types: [CONSUMED]}) {
          totalCount edges { node { amount customer { key } } }
        } }"""
    )

    assert data["creditLedger"]["totalCount"] == 6
    assert Counter(e["node"]["customer"]["key"] for e in data["creditLedger"]["edges"]) == {
        "acme": 5,
        "other": 1,
    }


# ---------------------------------------------------------------- never backdated


async def test_a_backdated_grant_is_funded_at_the_time_of_writing(api: Api) -> None:
    customer = await create_customer(api, "acme")
    grant = await promo(api, customer, "5", effectiveAt=at(START - 3 * DAY))

    entries = await ledger(api, customer)

    assert grant["effectiveAt"] == at(START - 3 * DAY)
    assert [(e["type"], e["bookedAt"], e["sequence"]) for e in entries] == [
        ("FUNDED", at(START), 1)
    ]


async def test_a_late_payment_report_funds_at_the_time_of_writing(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    grant = await paid(api, customer, "5", purchase={"availabilityPolicy": "ON_SETTLEMENT"})
    clock.advance(2 * HOUR)

    await settle(api, grant["id"], "SETTLED", occurred_at=at(START + HOUR))
    entries = await ledger(api, customer)

    assert [(e["type"], e["bookedAt"]) for e in entries] == [("FUNDED", at(START + 2 * HOUR))]
    assert (await balance(api, customer, at=at(START + HOUR)))["available"] == "0.00"


async def test_due_events_of_several_grants_are_booked_in_time_order(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "1", expiresAt=at(START + 5 * HOUR))
    await promo(
        api, customer, "2", effectiveAt=at(START + 3 * HOUR), expiresAt=at(START + 4 * HOUR)
    )
    await promo(api, customer, "3", effectiveAt=at(START + HOUR))
    clock.advance(DAY)

    entries = await ledger(api, customer)

    assert [(e["sequence"], e["type"], e["amount"], e["bookedAt"]) for e in entries][::-1] == [
        (1, "FUNDED", "1.00", at(START)),
        (2, "FUNDED", "3.00", at(START + HOUR)),
        (3, "FUNDED", "2.00", at(START + 3 * HOUR)),
        (4, "EXPIRED", "-2.00", at(START + 4 * HOUR)),
        (5, "EXPIRED", "-1.00", at(START + 5 * HOUR)),
    ]


LEDGER_BETWEEN = """query($id: ID!, $filter: CreditLedgerFilter) {
  customer(id: $id) { creditLedger(filter: $filter) { totalCount } }
}"""


@pytest.mark.parametrize("bound", ["bookedFrom", "bookedBefore"])
async def test_a_booked_bound_without_an_offset_is_a_bad_user_input_error(
    books: dict[str, Any], bound: str
) -> None:
    body = await books["api"].raw(
        LEDGER_BETWEEN, id=books["acme"], filter={bound: "2026-01-15T12:00:00"}
    )

    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("bound", "value"),
    [("bookedFrom", "0001-01-01T00:00:00+05:00"), ("bookedBefore", "9999-12-31T23:59:59-05:00")],
)
async def test_a_booked_bound_out_of_range_is_a_bad_user_input_error(
    books: dict[str, Any], bound: str, value: str
) -> None:
    body = await books["api"].raw(LEDGER_BETWEEN, id=books["acme"], filter={bound: value})

    assert error_codes(body) == ["BAD_USER_INPUT"]
