"""Balances as queried: per currency, at an instant, by feature, and upcoming expirations (§6)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.domain.time import FrozenClock
from tests.api.conftest import START, Api
from tests.api.test_queries_helpers import (
    BALANCE_FIELDS,
    balance,
    consume,
    create_customer,
    error_codes,
    instant,
    paid,
    promo,
    reverse,
    settle,
    void,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ON_SETTLEMENT = {"availabilityPolicy": "ON_SETTLEMENT"}


def zero_balance(
    currency: str, zero: str, at: str, feature_key: str | None = None
) -> dict[str, Any]:
    return {
        "currency": currency,
        "at": at,
        "featureKey": feature_key,
        "available": zero,
        "pending": zero,
        "funded": zero,
        "consumed": zero,
        "expired": zero,
        "voided": zero,
        "availablePromotional": zero,
        "availablePaid": zero,
        "sequence": 0,
    }


def assert_consistent(figures: dict[str, Any]) -> None:
    """funded - consumed - expired - voided = available = promotional + paid."""
    skip = ("at", "currency", "featureKey")
    number = {k: Decimal(v) for k, v in figures.items() if k not in skip and isinstance(v, str)}
    assert (
        number["funded"] - number["consumed"] - number["expired"] - number["voided"]
        == number["available"]
    ), figures
    assert number["availablePromotional"] + number["availablePaid"] == number["available"]
    assert min(number[k] for k in ("available", "pending", "funded", "consumed")) >= 0


async def balances(
    api: Api, customer_id: str, at: str | None = None, feature_key: str | None = None
) -> dict[str, dict[str, Any]]:
    data = await api(
        f"""query($id: ID!, $at: DateTime, $featureKey: String) {{
          customer(id: $id) {{ creditBalances(at: $at, featureKey: $featureKey) {{
            {BALANCE_FIELDS}
          }} }}
        }}""",
        id=customer_id,
        at=at,
        featureKey=feature_key,
    )
    listed = data["customer"]["creditBalances"]
    by_currency = {b["currency"]: b for b in listed}
    assert len(by_currency) == len(listed), "one balance per currency"
    return by_currency


async def test_credit_balances_lists_one_balance_per_currency(api: Api) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")
    await paid(api, customer, "2.50")
    await promo(api, customer, "5", "EUR")
    await paid(api, customer, "1000", "JPY", purchase=ON_SETTLEMENT)  # pending only
    await consume(api, customer, "c1", "3")

    found = await balances(api, customer)

    now = instant(START)
    assert found == {
        "USD": {
            "currency": "USD",
            "at": now,
            "featureKey": None,
            "available": "9.50",
            "pending": "0.00",
            "funded": "12.50",
            "consumed": "3.00",
            "expired": "0.00",
            "voided": "0.00",
            "availablePromotional": "7.00",
            "availablePaid": "2.50",
            "sequence": 3,
        },
        "EUR": zero_balance("EUR", "0.00", now)
        | {"available": "5.00", "funded": "5.00", "availablePromotional": "5.00", "sequence": 1},
        "JPY": zero_balance("JPY", "0", now) | {"pending": "1000"},
    }


async def test_credit_balances_of_a_customer_without_credits_is_empty(api: Api) -> None:
    customer = await create_customer(api, "acme")

    assert await balances(api, customer) == {}


async def test_credit_balances_never_lists_another_customers_currencies(api: Api) -> None:
    customer = await create_customer(api, "acme")
    other = await create_customer(api, "other")
    await promo(api, customer, "1")
    await promo(api, other, "1", "EUR")

    assert list(await balances(api, customer)) == ["USD"]


async def test_a_known_currency_never_used_has_a_zero_balance_with_sequence_zero(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")
    await consume(api, customer, "c1", "1")

    for currency, zero in (("JPY", "0"), ("GBP", "0.00"), ("BHD", "0.000")):
        now = instant(START)
        assert await balance(api, customer, currency) == zero_balance(currency, zero, now)
        assert await balance(api, customer, currency, feature_key="chat") == zero_balance(
            currency, zero, now, "chat"
        )


async def test_a_custom_currency_never_used_has_a_zero_balance(api: Api) -> None:
    customer = await create_customer(api, "acme")
    await api(
        """mutation { createCustomCurrency(input: {code: "TOKENS", name: "Tokens", scale: 3}) {
          __typename } }"""
    )

    assert await balance(api, customer, "TOKENS") == zero_balance("TOKENS", "0.000", instant(START))


async def test_a_balance_in_an_unknown_currency_is_a_bad_user_input_error(api: Api) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")

    for currency in ("XYZ", "NOPE", "usd", ""):
        body = await api.raw(
            "query($id: ID!, $c: String!) { customer(id: $id) { creditBalance(currency: $c) "
            "{ available } } }",
            id=customer,
            c=currency,
        )

        assert error_codes(body) == ["BAD_USER_INPUT"], currency


async def test_a_balance_at_a_future_instant_is_a_bad_user_input_error(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")
    future = instant(START + timedelta(microseconds=1))

    one = await api.raw(
        "query($id: ID!, $at: DateTime) { customer(id: $id) { "
        'creditBalance(currency: "USD", at: $at) { available } } }',
        id=customer,
        at=future,
    )
    every = await api.raw(
        "query($id: ID!, $at: DateTime) { customer(id: $id) { "
        "creditBalances(at: $at) { available } } }",
        id=customer,
        at=future,
    )

    assert error_codes(one) == ["BAD_USER_INPUT"]
    assert error_codes(every) == ["BAD_USER_INPUT"]


async def test_a_balance_at_now_is_the_current_balance(api: Api) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")

    assert await balance(api, customer, at=instant(START)) == await balance(api, customer)
    assert await balance(api, customer, at="2026-01-15T13:00:00+01:00") == await balance(
        api, customer
    )


async def test_a_balance_at_a_past_instant_stays_what_it_was_then(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    expiring = await promo(api, customer, "10", expiresAfter="PT5H")
    unpaid = await paid(api, customer, "20", priority=20, purchase=ON_SETTLEMENT)
    await promo(api, customer, "5", "USD", effectiveAt=instant(START + 2 * HOUR))
    await promo(api, customer, "7", "EUR")
    seen: dict[str, dict[str, dict[str, Any]]] = {}

    async def look() -> None:
        seen[instant(clock.now())] = await balances(api, customer)
        seen[instant(clock.now()) + " chat"] = await balances(api, customer, feature_key="chat")

    await look()
    clock.set(START + HOUR)
    first = await consume(api, customer, "c1", "4")
    await consume(api, customer, "e1", "2", "EUR")
    await look()
    clock.set(START + 2 * HOUR)  # the 5 becomes funded
    await settle(api, unpaid["id"], "SETTLED")
    await consume(api, customer, "c2", "3")
    await look()
    clock.set(START + 3 * HOUR)
    await void(api, unpaid["id"])
    await look()
    clock.set(START + 4 * HOUR)
    await reverse(api, first["id"], "r1", "1.50")
    await look()
    clock.set(START + 6 * HOUR)  # `expiring` expired at 5 hours
    await consume(api, customer, "c3", "1")
    await look()
    clock.set(START + 7 * HOUR)
    await consume(api, customer, "c4", "1")
    await promo(api, customer, "100", "USD")

    for moment, then in seen.items():
        at, _, feature = moment.partition(" ")
        again = await balances(api, customer, at=at, feature_key=feature or None)
        assert again == then, moment
        for figures in again.values():
            assert_consistent(figures)

    usd = {moment[11:16]: figures["USD"] for moment, figures in seen.items() if " " not in moment}
    assert [(u["available"], u["pending"], u["sequence"]) for u in usd.values()] == [
        ("10.00", "25.00", 1),
        ("6.00", "25.00", 2),
        ("28.00", "0.00", 5),
        ("8.00", "0.00", 6),
        ("9.50", "0.00", 7),
        ("4.00", "0.00", 9),
    ]
    assert usd["18:00"] | {"at": None} == {
        "currency": "USD",
        "at": None,
        "featureKey": None,
        "available": "4.00",
        "pending": "0.00",
        "funded": "35.00",
        "consumed": "6.50",
        "expired": "4.50",
        "voided": "20.00",
        "availablePromotional": "4.00",
        "availablePaid": "0.00",
        "sequence": 9,
    }
    assert expiring["expiresAt"] == instant(START + 5 * HOUR)


async def test_a_balance_between_two_entries_includes_only_the_earlier(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")
    clock.set(START + HOUR)
    await consume(api, customer, "c1", "4")
    clock.set(START + 2 * HOUR)

    just_before = await balance(api, customer, at=instant(START + HOUR - timedelta(microseconds=1)))
    exactly = await balance(api, customer, at=instant(START + HOUR))
    before_everything = await balance(api, customer, at=instant(START - DAY))

    assert (just_before["available"], just_before["sequence"]) == ("10.00", 1)
    assert (exactly["available"], exactly["sequence"]) == ("6.00", 2)
    assert before_everything == zero_balance("USD", "0.00", instant(START - DAY))


async def test_pending_counts_future_effective_and_unpaid_grants_until_they_are_funded(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "1")
    await promo(api, customer, "5", effectiveAt=instant(START + DAY))
    on_settlement = await paid(api, customer, "20", purchase=ON_SETTLEMENT)
    on_authorization = await paid(
        api, customer, "30", purchase={"availabilityPolicy": "ON_AUTHORIZATION"}
    )
    await paid(api, customer, "40")  # ON_CREATION: funded although unpaid
    voided = await paid(api, customer, "50", purchase=ON_SETTLEMENT)
    await void(api, voided["id"])
    await paid(api, customer, "60", purchase=ON_SETTLEMENT, expiresAfter="PT1H")

    now = await balance(api, customer)
    assert (now["available"], now["pending"]) == ("41.00", "115.00")

    await settle(api, on_authorization["id"], "AUTHORIZED")
    authorized = await balance(api, customer)
    assert (authorized["available"], authorized["pending"]) == ("71.00", "85.00")

    await settle(api, on_settlement["id"], "AUTHORIZED")
    assert (await balance(api, customer))["pending"] == "85.00"  # waits for settlement
    await settle(api, on_settlement["id"], "SETTLED")
    settled = await balance(api, customer)
    assert (settled["available"], settled["pending"]) == ("91.00", "65.00")

    clock.set(START + HOUR)  # the unpaid 60 expired without ever being funded
    assert (await balance(api, customer))["pending"] == "5.00"
    clock.set(START + DAY)
    final = await balance(api, customer)
    assert (final["available"], final["pending"], final["expired"]) == ("96.00", "0.00", "0.00")
    assert_consistent(final)


async def test_a_feature_balance_counts_only_unrestricted_grants_and_those_listing_it(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")
    await paid(api, customer, "20", features=["chat"])
    await paid(api, customer, "30", features=["images", "video"])
    await promo(api, customer, "7", features=["chat"], effectiveAt=instant(START + DAY))
    await consume(api, customer, "c-chat", "2", featureKey="chat")

    chat = await balance(api, customer, feature_key="chat")
    images = await balance(api, customer, feature_key="images")
    music = await balance(api, customer, feature_key="music")
    everything = await balance(api, customer)

    assert chat | {"at": None} == {
        "currency": "USD",
        "at": None,
        "featureKey": "chat",
        "available": "28.00",
        "pending": "7.00",
        "funded": "30.00",
        "consumed": "2.00",
        "expired": "0.00",
        "voided": "0.00",
        "availablePromotional": "10.00",
        "availablePaid": "18.00",
        "sequence": 4,
    }
    assert (images["available"], images["pending"], images["sequence"]) == ("40.00", "0.00", 4)
    assert (music["available"], music["funded"], music["sequence"]) == ("10.00", "10.00", 4)
    assert (everything["available"], everything["pending"]) == ("58.00", "7.00")
    assert (await balances(api, customer, feature_key="chat"))["USD"] == chat
    for figures in (chat, images, music, everything):
        assert_consistent(figures)


async def test_a_feature_balance_is_what_a_consumption_of_that_feature_may_draw(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10")
    await paid(api, customer, "20", features=["chat"])
    await paid(api, customer, "30", features=["images"])
    chat = await balance(api, customer, feature_key="chat")

    result = await api(
        """mutation($input: ConsumeCreditsInput!) { consumeCredits(input: $input) {
          __typename ... on InsufficientCreditsError { available } } }""",
        input={
            "customerId": customer,
            "key": "too-much",
            "currency": "USD",
            "amount": "30.01",
            "featureKey": "chat",
        },
    )

    assert result["consumeCredits"] == {
        "__typename": "InsufficientCreditsError",
        "available": chat["available"],
    }


# ---------------------------------------------------------------- upcoming expirations


EXPIRATIONS = """query($id: ID!, $within: Duration!, $currency: String) {
  customer(id: $id) {
    upcomingCreditExpirations(within: $within, currency: $currency) {
      currency expiresAt amount grant { id status remaining }
    }
  }
}"""


async def expirations(
    api: Api, customer: str, within: str, currency: str | None = None
) -> list[dict[str, Any]]:
    data = await api(EXPIRATIONS, id=customer, within=within, currency=currency)
    listed: list[dict[str, Any]] = data["customer"]["upcomingCreditExpirations"]
    return listed


async def test_upcoming_expirations_list_funded_remainders_soonest_first(
    api: Api, clock: FrozenClock
) -> None:
    customer = await create_customer(api, "acme")
    made = {
        "a": await promo(api, customer, "10", priority=1, expiresAfter="P10D"),
        "b": await promo(api, customer, "3", expiresAfter="P5D"),
        "c": await promo(api, customer, "7", expiresAfter="P40D"),
        "d": await promo(api, customer, "2"),
        "e": await promo(api, customer, "9", effectiveAt=instant(START + DAY), expiresAfter="P20D"),
        "f": await paid(api, customer, "8", purchase=ON_SETTLEMENT, expiresAfter="P15D"),
        "g": await promo(api, customer, "4", expiresAfter="P3D"),
        "h": await promo(api, customer, "5", "EUR", expiresAfter="P20D"),
    }
    names = {grant["id"]: name for name, grant in made.items()}
    await consume(api, customer, "c1", "4")  # from a (priority 1)
    await void(api, made["g"]["id"])

    def summary(listed: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return [
            (names[x["grant"]["id"]], x["currency"], x["expiresAt"], x["amount"]) for x in listed
        ]

    assert summary(await expirations(api, customer, "P30D")) == [
        ("b", "USD", instant(START + 5 * DAY), "3.00"),
        ("a", "USD", instant(START + 10 * DAY), "6.00"),
        ("h", "EUR", instant(START + 20 * DAY), "5.00"),
    ]
    assert summary(await expirations(api, customer, "P30D", "USD")) == [
        ("b", "USD", instant(START + 5 * DAY), "3.00"),
        ("a", "USD", instant(START + 10 * DAY), "6.00"),
    ]
    assert summary(await expirations(api, customer, "P5D")) == [
        ("b", "USD", instant(START + 5 * DAY), "3.00")
    ]
    assert await expirations(api, customer, "P4D") == []

    clock.set(START + 2 * DAY)  # e is funded now
    await settle(api, made["f"]["id"], "SETTLED")  # f is funded now
    assert summary(await expirations(api, customer, "P30D")) == [
        ("b", "USD", instant(START + 5 * DAY), "3.00"),
        ("a", "USD", instant(START + 10 * DAY), "6.00"),
        ("f", "USD", instant(START + 15 * DAY), "8.00"),
        ("h", "EUR", instant(START + 20 * DAY), "5.00"),
        ("e", "USD", instant(START + 21 * DAY), "9.00"),
    ]

    clock.set(START + 6 * DAY)  # b has expired
    listed = await expirations(api, customer, "P30D", "USD")
    assert [names[x["grant"]["id"]] for x in listed] == ["a", "f", "e"]
    assert all(x["grant"]["status"] == "ACTIVE" for x in listed)
    assert all(x["amount"] == x["grant"]["remaining"] for x in listed)


async def test_a_balance_at_an_instant_without_an_offset_is_a_bad_user_input_error(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")

    body = await api.raw(
        "query($id: ID!, $at: DateTime) { customer(id: $id) { "
        'creditBalance(currency: "USD", at: $at) { available } } }',
        id=customer,
        at="2026-01-15T11:00:00",
    )

    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_balance_at_an_instant_out_of_range_is_a_bad_user_input_error(api: Api) -> None:
    customer = await create_customer(api, "acme")

    body = await api.raw(
        "query($id: ID!, $at: DateTime) { customer(id: $id) { "
        'creditBalance(currency: "USD", at: $at) { available } } }',
        id=customer,
        at="0001-01-01T00:00:00+05:00",
    )

    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_query_variables_that_are_no_date_time_or_duration_are_bad_user_input(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")

    at = await api.raw(
        "query($id: ID!, $at: DateTime) { customer(id: $id) { "
        'creditBalance(currency: "USD", at: $at) { available } } }',
        id=customer,
        at="yesterday",
    )
    within = await api.raw(EXPIRATIONS, id=customer, within="a month")

    assert error_codes(at) == ["BAD_USER_INPUT"]
    assert error_codes(within) == ["BAD_USER_INPUT"]


async def test_upcoming_expirations_within_a_duration_past_year_9999_is_bad_user_input(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")

    body = await api.raw(EXPIRATIONS, id=customer, within="P10000Y")

    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_upcoming_expirations_within_an_overflowing_duration_is_bad_user_input(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")

    body = await api.raw(EXPIRATIONS, id=customer, within="P9999999999D")

    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_upcoming_expirations_within_zero_or_a_negative_duration_are_empty(
    api: Api,
) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "10", expiresAfter="P5D")

    assert await expirations(api, customer, "P0D") == []
    assert await expirations(api, customer, "-P1D") == []
