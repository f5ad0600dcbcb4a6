"""ISO 4217 and custom credit units (DESIGN §2)."""

from __future__ import annotations

import pytest

from app.domain.errors import KeyConflict, ValidationFailed
from app.domain.money import Currency
from app.services.currencies import CurrencyCatalog, create_custom_currency
from tests.services.support import balance, fields_of, promo, row_counts


async def test_iso_currencies_carry_their_official_minor_units(runtime):
    catalog = runtime.catalog

    assert [(await catalog.get(code)) for code in ("USD", "JPY", "BHD")] == [
        Currency("USD", "US Dollar", 2, False),
        Currency("JPY", "Yen", 0, False),
        Currency("BHD", "Bahraini Dinar", 3, False),
    ]


async def test_iso_codes_without_minor_units_are_not_credit_currencies(runtime):
    assert await runtime.catalog.get("XAU") is None


async def test_a_custom_currency_is_created_and_known_to_a_fresh_catalog(runtime, engine):
    currency, replayed = await create_custom_currency(
        runtime, code="API_CREDITS", name="API credits", scale=3
    )

    assert (currency, replayed) == (Currency("API_CREDITS", "API credits", 3, True), False)
    assert await CurrencyCatalog(engine).get("API_CREDITS") == currency


async def test_creating_a_custom_currency_again_with_the_same_input_replays_it(runtime):
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0)
    counts = await row_counts(runtime.engine)

    currency, replayed = await create_custom_currency(
        runtime, code="TOKENS", name="Tokens", scale=0
    )

    assert (currency.code, replayed) == ("TOKENS", True)
    assert await row_counts(runtime.engine) == counts


async def test_the_same_currency_code_with_another_scale_is_a_key_conflict(runtime):
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0)

    with pytest.raises(KeyConflict) as raised:
        await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=2)

    assert raised.value.key == "TOKENS"


@pytest.mark.parametrize("code", ["ABC", "tokens", "TOK-ENS", "T" * 25])
async def test_a_custom_currency_code_must_be_4_to_24_of_upper_letters_digits_and_underscore(
    runtime, code
):
    with pytest.raises(ValidationFailed) as raised:
        await create_custom_currency(runtime, code=code, name="Tokens", scale=0)

    assert fields_of(raised.value) == [("input", "code")]


async def test_a_custom_currency_reports_every_issue_at_once(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await create_custom_currency(runtime, code="x", name="", scale=10)

    assert fields_of(raised.value) == [("input", "code"), ("input", "name"), ("input", "scale")]
    assert (await row_counts(runtime.engine))["currency"] == 0


async def test_an_iso_code_is_refused_as_a_custom_currency_code(runtime):
    with pytest.raises(ValidationFailed) as raised:
        await create_custom_currency(runtime, code="USD", name="Fake dollars", scale=2)

    assert fields_of(raised.value) == [("input", "code")]


@pytest.mark.parametrize("scale", [0, 9])
async def test_a_custom_scale_of_0_to_9_is_accepted(runtime, scale):
    currency, _ = await create_custom_currency(runtime, code="UNIT", name="Units", scale=scale)

    assert currency.scale == scale


async def test_amounts_of_a_custom_unit_follow_its_scale(runtime, make_customer):
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=1)
    customer_id = await make_customer()

    await promo(runtime, customer_id, "2.5", "TOKENS")
    with pytest.raises(ValidationFailed) as raised:
        await promo(runtime, customer_id, "2.55", "TOKENS")

    assert fields_of(raised.value) == [("input", "amount")]
    assert (await balance(runtime, customer_id, "TOKENS")).available == 25
