"""Amounts, scales, limits and the one rounding: DESIGN §2."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.money import (
    AMOUNT_LIMIT,
    CUSTOM_CODE,
    amount_problem,
    cost_basis_problem,
    decimal_places,
    from_minor,
    normalized,
    price,
    sortable_decimal,
    to_minor,
)
from tests.conftest import examples
from tests.domain.factories import BHD, JPY, TOKENS, USD

FAST = settings(max_examples=examples(300))

# ---- converting to and from the smallest unit


@pytest.mark.parametrize(
    ("text", "scale", "minor"),
    [
        ("12.34", 2, 1234),
        ("0.01", 2, 1),
        ("100", 2, 10000),
        ("500", 0, 500),
        ("1.234", 3, 1234),
        ("0.001", 3, 1),
        ("0.000000001", 9, 1),
        ("1E+2", 2, 10000),
    ],
)
def test_an_amount_becomes_an_integer_of_the_smallest_unit(text, scale, minor):
    assert to_minor(Decimal(text), scale) == minor


def test_usd_has_two_places_jpy_none_and_bhd_three():
    assert to_minor(Decimal("1"), USD.scale) == 100
    assert to_minor(Decimal("1"), JPY.scale) == 1
    assert to_minor(Decimal("1"), BHD.scale) == 1000


@pytest.mark.parametrize(
    ("minor", "scale", "text"),
    [(1234, 2, "12.34"), (1, 2, "0.01"), (500, 0, "500"), (1234, 3, "1.234"), (1, 9, "1E-9")],
)
def test_an_integer_of_the_smallest_unit_becomes_an_exact_decimal(minor, scale, text):
    value = from_minor(minor, scale)
    assert value == Decimal(text)
    assert value.as_tuple().exponent == -scale


def test_a_minor_amount_keeps_its_scale_in_text():
    assert str(from_minor(150, 2)) == "1.50"
    assert str(from_minor(5, 0)) == "5"
    assert str(from_minor(1500, 3)) == "1.500"


def test_converting_more_places_than_the_scale_is_an_error_never_a_rounding():
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        to_minor(Decimal("1.005"), 2)
    with pytest.raises(ValueError, match="more than 0 decimal places"):
        to_minor(Decimal("0.5"), 0)


@FAST
@given(minor=st.integers(min_value=1, max_value=AMOUNT_LIMIT - 1), scale=st.integers(0, 9))
def test_every_minor_amount_survives_the_round_trip(minor, scale):
    assert to_minor(from_minor(minor, scale), scale) == minor


# ---- places are counted on the value


@pytest.mark.parametrize(
    ("text", "places"),
    [("1.500", 1), ("1.5", 1), ("100", 0), ("100.00", 0), ("1E+2", 0), ("0.001", 3), ("1.505", 3)],
)
def test_decimal_places_are_counted_on_the_value_not_the_text(text, places):
    assert decimal_places(Decimal(text)) == places


def test_one_point_five_hundred_fits_a_scale_of_two():
    assert amount_problem(Decimal("1.500"), USD) is None
    assert to_minor(Decimal("1.500"), USD.scale) == 150


def test_one_point_five_zero_five_does_not_fit_a_scale_of_two():
    assert amount_problem(Decimal("1.505"), USD) == (
        "has more than 2 decimal places allowed for USD"
    )


def test_yen_take_no_decimal_places_but_a_trailing_zero_is_fine():
    assert amount_problem(Decimal("1.5"), JPY) == "has more than 0 decimal places allowed for JPY"
    assert amount_problem(Decimal("1.0"), JPY) is None


def test_dinars_take_three_places_and_not_four():
    assert amount_problem(Decimal("0.001"), BHD) is None
    assert amount_problem(Decimal("0.0005"), BHD) == (
        "has more than 3 decimal places allowed for BHD"
    )


@pytest.mark.parametrize("text", ["0", "0.00", "-0", "-1", "-0.01"])
def test_zero_and_negative_amounts_are_rejected(text):
    assert amount_problem(Decimal(text), USD) == "must be greater than zero"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_an_amount_that_is_no_finite_number_is_rejected(text):
    assert amount_problem(Decimal(text), USD) == "must be a finite number"


# ---- the 10^18 limit of the smallest unit


@pytest.mark.parametrize(
    ("currency", "just_under", "at_limit"),
    [
        (JPY, "999999999999999999", "1000000000000000000"),
        (USD, "9999999999999999.99", "10000000000000000"),
        (BHD, "999999999999999.999", "1000000000000000"),
        (TOKENS, "999999999.999999999", "1000000000"),
    ],
)
def test_an_amount_must_stay_below_ten_to_the_eighteen_smallest_units(
    currency, just_under, at_limit
):
    assert to_minor(Decimal(just_under), currency.scale) == AMOUNT_LIMIT - 1
    assert amount_problem(Decimal(just_under), currency) is None
    assert amount_problem(Decimal(at_limit), currency) == (
        f"must be below 10^18 of the smallest unit of {currency.code}"
    )


def test_a_huge_amount_with_an_exponent_is_over_the_limit():
    assert amount_problem(Decimal("1E+30"), USD) == (
        "must be below 10^18 of the smallest unit of USD"
    )


# ---- cost basis


@pytest.mark.parametrize(
    "text", ["0.000000000001", "1.123456789012", "0.5", "100", "1.5000000000000", "1E+3"]
)
def test_a_cost_basis_may_have_up_to_twelve_places(text):
    assert cost_basis_problem(Decimal(text)) is None


@pytest.mark.parametrize("text", ["0.0000000000001", "1.1234567890123", "1E-13"])
def test_a_cost_basis_with_thirteen_places_is_rejected(text):
    assert cost_basis_problem(Decimal(text)) == "has more than 12 decimal places"


@pytest.mark.parametrize("text", ["0", "0.000", "-1"])
def test_a_cost_basis_must_be_above_zero(text):
    assert cost_basis_problem(Decimal(text)) == "must be greater than zero"


def test_a_cost_basis_that_is_no_finite_number_is_rejected():
    assert cost_basis_problem(Decimal("NaN")) == "must be a finite number"
    assert cost_basis_problem(Decimal("Infinity")) == "must be a finite number"


# ---- the price: the only rounding, half to even


@pytest.mark.parametrize(
    ("amount", "cost_basis", "currency", "expected"),
    [
        ("0.125", "1", USD, "0.12"),
        ("0.135", "1", USD, "0.14"),
        ("0.145", "1", USD, "0.14"),
        ("0.155", "1", USD, "0.16"),
        ("0.1251", "1", USD, "0.13"),
        ("1", "0.125", USD, "0.12"),
        ("2.5", "1", JPY, "2"),
        ("3.5", "1", JPY, "4"),
        ("0.0005", "1", BHD, "0.000"),
        ("0.0015", "1", BHD, "0.002"),
        ("3", "2", USD, "6.00"),
        ("100", "0.015", USD, "1.50"),
    ],
)
def test_the_price_is_rounded_half_to_even_to_the_purchase_currency_scale(
    amount, cost_basis, currency, expected
):
    result = price(Decimal(amount), Decimal(cost_basis), currency)
    assert str(result) == expected


def test_a_large_price_is_computed_exactly_before_it_is_rounded():
    amount, cost_basis = Decimal("100000000000000.01"), Decimal("12.500000000001")
    # The exact product is 1250000000000100.12500000000001: just above the half.
    # With the default 28 digits it would lose its last digit and round down to .12.
    with decimal.localcontext(prec=28):
        assert (amount * cost_basis).quantize(Decimal("0.01")) == Decimal("1250000000000100.12")
    assert price(amount, cost_basis, USD) == Decimal("1250000000000100.13")


@FAST
@given(
    minor=st.integers(min_value=1, max_value=AMOUNT_LIMIT - 1),
    basis_units=st.integers(min_value=1, max_value=10**15),
)
def test_the_price_equals_the_exact_product_rounded_half_to_even(minor, basis_units):
    amount, cost_basis = from_minor(minor, 2), from_minor(basis_units, 12)
    exact_units = minor * basis_units  # in units of 10^-14
    whole, rest = divmod(exact_units, 10**12)  # in cents and what is below a cent
    half = 5 * 10**11
    cents = whole + (1 if rest > half or (rest == half and whole % 2) else 0)
    assert price(amount, cost_basis, USD) == from_minor(cents, 2)


def test_a_price_too_large_to_quantize_is_reported_far_over_the_limit():
    assert price(Decimal("1E+100"), Decimal("1E+100"), USD) >= AMOUNT_LIMIT


# ---- canonical text and sortable text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1.50", "1.5"), ("1.5", "1.5"), ("100", "100"), ("1E+2", "100"), ("0.00", "0")],
)
def test_equal_values_have_one_canonical_text(text, canonical):
    assert normalized(Decimal(text)) == canonical


def test_sortable_text_of_a_cost_basis_is_fixed_width():
    assert sortable_decimal(Decimal(0)) == "0" * 40 + ".000000000000"
    assert sortable_decimal(Decimal("1.5")) == "0" * 39 + "1.500000000000"
    assert sortable_decimal(Decimal("0.000000000001")) == "0" * 40 + ".000000000001"


COST_BASES = st.decimals(min_value=0, max_value=Decimal("9999999999999999.999999999999"), places=12)


@FAST
@given(first=COST_BASES, second=COST_BASES)
def test_sortable_text_orders_like_the_numbers(first, second):
    a, b = sortable_decimal(first), sortable_decimal(second)
    assert len(a) == len(b) == 53
    assert (a < b) == (first < second)
    assert (a == b) == (first == second)


@FAST
@given(values=st.lists(COST_BASES, min_size=2, max_size=20))
def test_sorting_by_sortable_text_is_sorting_by_value(values):
    assert sorted(values, key=sortable_decimal) == sorted(values)


# ---- custom currency codes


@pytest.mark.parametrize("code", ["CRED", "GPU_HOURS", "A1B2", "X" * 24])
def test_a_custom_code_is_four_to_twenty_four_of_capitals_digits_and_underscore(code):
    assert CUSTOM_CODE.match(code)


@pytest.mark.parametrize("code", ["ABC", "X" * 25, "cred", "GPU-HOURS", "GPU HOURS", ""])
def test_other_custom_codes_are_rejected(code):
    assert not CUSTOM_CODE.match(code)


# ---- bugs


@pytest.mark.parametrize(
    "text", ["1.0000000000000000000000000001", "123456789.00000000000000000000001"]
)
def test_an_amount_with_many_significant_digits_is_not_rounded_silently(text):
    value = Decimal(text)
    assert amount_problem(value, USD) is not None
    with pytest.raises(ValueError):
        to_minor(value, USD.scale)


def test_a_vanishingly_small_amount_has_too_many_places():
    assert amount_problem(Decimal("1E-1000030"), USD) == (
        "has more than 2 decimal places allowed for USD"
    )


def test_an_astronomically_large_amount_is_over_the_limit_not_a_crash():
    assert amount_problem(Decimal("1E+1000000"), USD) == (
        "must be below 10^18 of the smallest unit of USD"
    )


def test_a_cost_basis_with_many_significant_digits_has_too_many_places():
    assert cost_basis_problem(Decimal("1.0000000000000000000000000001")) == (
        "has more than 12 decimal places"
    )


def test_distinct_values_never_share_a_canonical_text():
    assert normalized(Decimal("1.0000000000000000000000000001")) != normalized(Decimal("1"))


def test_a_cost_basis_of_ten_to_the_sixteen_still_has_a_sortable_text():
    # e.g. one 10^-9 of a scale-9 credit unit at 10^16 USD costs 10^7 USD: a valid purchase
    assert sortable_decimal(Decimal("1E+16")) > sortable_decimal(Decimal("9999999999999999"))


def test_a_custom_code_with_a_trailing_newline_is_rejected():
    assert not CUSTOM_CODE.match("CRED\n")
