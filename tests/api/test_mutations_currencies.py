"""createCustomCurrency over HTTP, and what a custom credit unit asks of purchases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_mutations_support import (
    FAILURE,
    case,
    counts,
    fields_of,
    new_customer,
    outcome,
    promote,
    purchase,
    run,
)

CREATE_CURRENCY = (
    """
mutation CreateCurrency($input: CreateCustomCurrencyInput!) {
  result: createCustomCurrency(input: $input) {
    __typename
    ... on CreateCustomCurrencySuccess { replayed currency { code name scale custom } }
    ...Failure
  }
}"""
    + FAILURE
)

CURRENCIES = "{ currencies { code name scale custom } }"


async def create(api: Api, **fields: Any) -> dict[str, Any]:
    return await run(
        api, CREATE_CURRENCY, **{"code": "TOKENS", "name": "Tokens", "scale": 3, **fields}
    )


async def custom_codes(api: Api) -> list[str]:
    currencies = (await api(CURRENCIES))["currencies"]
    return [currency["code"] for currency in currencies if currency["custom"]]


async def test_create_custom_currency_answers_with_the_new_unit(api: Api) -> None:
    result = await create(api)

    assert result == {
        "__typename": "CreateCustomCurrencySuccess",
        "replayed": False,
        "currency": {"code": "TOKENS", "name": "Tokens", "scale": 3, "custom": True},
    }
    currencies = (await api(CURRENCIES))["currencies"]
    assert {"code": "TOKENS", "name": "Tokens", "scale": 3, "custom": True} in currencies
    assert {"code": "USD", "name": "US Dollar", "scale": 2, "custom": False} in currencies


@pytest.mark.parametrize("scale", [0, 9])
async def test_create_custom_currency_accepts_scales_from_0_to_9(api: Api, scale: int) -> None:
    result = await create(api, code="GPU_HOURS_2026", scale=scale)

    assert result["__typename"] == "CreateCustomCurrencySuccess"
    assert result["currency"]["scale"] == scale


async def test_create_custom_currency_with_the_same_input_replays_it(api: Api) -> None:
    await create(api)

    again = await create(api)

    assert again == {
        "__typename": "CreateCustomCurrencySuccess",
        "replayed": True,
        "currency": {"code": "TOKENS", "name": "Tokens", "scale": 3, "custom": True},
    }
    assert await custom_codes(api) == ["TOKENS"]


@pytest.mark.parametrize("changed", [{"name": "Tokens v2"}, {"scale": 2}])
async def test_create_custom_currency_with_the_same_code_and_another_input_is_a_key_conflict(
    api: Api, changed: dict[str, Any]
) -> None:
    await create(api)

    result = await create(api, **changed)

    assert result["__typename"] == "KeyConflictError"
    assert result["code"] == "KEY_CONFLICT"
    assert result["key"] == "TOKENS"
    assert (await api(CURRENCIES))["currencies"].count(
        {"code": "TOKENS", "name": "Tokens", "scale": 3, "custom": True}
    ) == 1


INVALID_CURRENCIES: list[tuple[dict[str, Any], list[str]]] = [
    ({"code": "USD"}, ["input", "code"]),
    ({"code": "EUR"}, ["input", "code"]),
    ({"code": "TOK"}, ["input", "code"]),
    ({"code": "tokens"}, ["input", "code"]),
    ({"code": "TOK-EN"}, ["input", "code"]),
    ({"code": "T" * 25}, ["input", "code"]),
    ({"name": ""}, ["input", "name"]),
    ({"name": "n" * 257}, ["input", "name"]),
    ({"scale": 10}, ["input", "scale"]),
    ({"scale": -1}, ["input", "scale"]),
]


async def test_create_custom_currency_refuses_each_invalid_field_and_creates_nothing(
    api: Api,
) -> None:
    found = {}
    for index, (fields, _) in enumerate(INVALID_CURRENCIES):
        found[case(index, fields)] = outcome(await create(api, **fields))

    assert found == {
        case(i, fields): [field] for i, (fields, field) in enumerate(INVALID_CURRENCIES)
    }
    assert await custom_codes(api) == []


async def test_create_custom_currency_reports_every_issue_at_once(api: Api) -> None:
    result = await create(api, code="usd", name="", scale=10)

    assert fields_of(result) == [["input", "code"], ["input", "name"], ["input", "scale"]]


async def test_a_refused_custom_currency_does_not_use_up_its_code(api: Api) -> None:
    await create(api, scale=10)

    result = await create(api, scale=3)

    assert result["__typename"] == "CreateCustomCurrencySuccess"
    assert result["replayed"] is False


# ---------------------------------------------------------------- credits in a custom unit


async def test_a_purchase_of_custom_credits_needs_a_purchase_currency(api: Api) -> None:
    await create(api)
    customer_id = await new_customer(api)

    without_terms = await purchase(api, customer_id, currency="TOKENS", amount="1000")
    without_currency = await purchase(
        api, customer_id, currency="TOKENS", amount="1000", purchase={"perUnitCostBasis": "0.01"}
    )

    assert fields_of(without_terms) == [["input", "purchase", "currency"]]
    assert fields_of(without_currency) == [["input", "purchase", "currency"]]
    assert await counts(api, customer_id) == (0, 0)


@pytest.mark.parametrize("code", ["TOKENS", "XYZ"])
async def test_a_purchase_currency_must_be_an_iso_currency(api: Api, code: str) -> None:
    await create(api)
    customer_id = await new_customer(api)

    result = await purchase(
        api, customer_id, currency="TOKENS", amount="1000", purchase={"currency": code}
    )

    assert fields_of(result) == [["input", "purchase", "currency"]]
    assert await counts(api, customer_id) == (0, 0)


async def test_a_purchase_of_custom_credits_is_priced_in_its_purchase_currency(api: Api) -> None:
    await create(api)
    customer_id = await new_customer(api)

    result = await purchase(
        api,
        customer_id,
        currency="TOKENS",
        amount="1500.5",
        purchase={"currency": "EUR", "perUnitCostBasis": "0.003"},
    )

    assert result["__typename"] == "CreditGrantSuccess"
    grant = result["grant"]
    assert grant["currency"] == "TOKENS"
    assert grant["amount"] == "1500.500"
    assert grant["purchase"]["currency"] == "EUR"
    assert grant["purchase"]["perUnitCostBasis"] == "0.003"
    assert grant["purchase"]["amount"] == "4.50"  # 4.5015 rounded to cents
    assert result["balance"]["currency"] == "TOKENS"
    assert result["balance"]["available"] == "1500.500"


async def test_custom_credits_refuse_more_places_than_their_scale(api: Api) -> None:
    await create(api, scale=0)
    customer_id = await new_customer(api)

    result = await promote(api, customer_id, currency="TOKENS", amount="1.5")

    assert fields_of(result) == [["input", "amount"]]


async def test_promotional_credits_in_a_custom_unit_need_no_purchase_currency(api: Api) -> None:
    await create(api)
    customer_id = await new_customer(api)

    result = await promote(api, customer_id, currency="TOKENS", amount="250")

    assert result["__typename"] == "CreditGrantSuccess"
    assert result["grant"]["amount"] == "250.000"
    assert result["grant"]["purchase"] is None
    assert result["balance"]["availablePromotional"] == "250.000"


async def test_an_amount_stays_below_10_to_the_18_of_the_smallest_unit(api: Api) -> None:
    await create(api, code="NANO_CREDITS", name="Nano credits", scale=9)
    largest, too_large = await new_customer(api, key="largest"), await new_customer(api, key="big")

    accepted = await promote(api, largest, currency="NANO_CREDITS", amount="999999999.999999999")
    refused = await promote(api, too_large, currency="NANO_CREDITS", amount="1000000000")
    over_headroom = await promote(api, largest, currency="NANO_CREDITS", amount="0.000000001")

    assert accepted["grant"]["amount"] == "999999999.999999999"
    assert fields_of(refused) == [["input", "amount"]]
    assert fields_of(over_headroom) == [["input", "amount"]]
    assert await counts(api, too_large) == (0, 0)
