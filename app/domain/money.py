"""Currencies and exact amounts: Decimal at the edges, integers of the smallest unit inside."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

AMOUNT_LIMIT = 10**18  # every stored integer and sum stays below this (fits in 64 bits)
CUSTOM_CODE = re.compile(r"^[A-Z0-9_]{4,24}\Z")
DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
MAX_COST_BASIS_PLACES = 12
WIDE = 200  # decimal precision wide enough that no valid input is ever rounded
MAX_EMAX = 999_999_999_999_999_999  # the largest exponent range the decimal module allows


@dataclass(frozen=True)
class Currency:
    code: str
    name: str
    scale: int
    custom: bool


def parse_decimal_text(text: str) -> Decimal:
    """A decimal from its plain ASCII text ("-12.50"): no exponent, spaces, "_" or other digits."""
    if not DECIMAL_TEXT.fullmatch(text):
        raise ValueError(f'{text!r} is not a decimal number such as "100.50"')
    return Decimal(text)


def decimal_places(value: Decimal) -> int:
    """Places counted on the value: 1.500 has one. Exact at any precision."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    return max(0, -(exponent + len(digits) - len(significant)))


def is_finite(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def to_minor(value: Decimal, scale: int) -> int:
    """Exact conversion to the smallest unit; the caller has checked the places."""
    if decimal_places(value) > scale:
        raise ValueError(f"{value} has more than {scale} decimal places")
    with localcontext(prec=WIDE):
        return int(value.scaleb(scale))


def from_minor(minor: int, scale: int) -> Decimal:
    return Decimal(minor).scaleb(-scale) if scale else Decimal(minor)


def amount_problem(value: Decimal, currency: Currency) -> str | None:
    """Why `value` is not a valid positive amount of `currency`, or None."""
    if not is_finite(value):
        return "must be a finite number"
    if value <= 0:
        return "must be greater than zero"
    if decimal_places(value) > currency.scale:
        return f"has more than {currency.scale} decimal places allowed for {currency.code}"
    if value.adjusted() >= 18 or to_minor(value, currency.scale) >= AMOUNT_LIMIT:
        return f"must be below 10^18 of the smallest unit of {currency.code}"
    return None


def cost_basis_problem(value: Decimal) -> str | None:
    if not is_finite(value):
        return "must be a finite number"
    if value <= 0:
        return "must be greater than zero"
    if decimal_places(value) > MAX_COST_BASIS_PLACES:
        return f"has more than {MAX_COST_BASIS_PLACES} decimal places"
    if value.adjusted() >= 40:
        return "is too large"
    return None


def price(amount: Decimal, cost_basis: Decimal, currency: Currency) -> Decimal:
    """amount times cost basis, rounded half to even to the purchase currency's scale."""
    with localcontext(prec=WIDE):  # wide enough that the product is exact before rounding
        exact = amount * cost_basis
        try:
            return exact.quantize(Decimal(1).scaleb(-currency.scale), rounding=ROUND_HALF_EVEN)
        except InvalidOperation:  # too large to quantize: far over every limit anyway
            return Decimal(AMOUNT_LIMIT)


def normalized(value: Decimal) -> str:
    """A canonical text for a decimal value: "1.50" and "1.5" give "1.5"."""
    with localcontext(prec=WIDE, Emax=MAX_EMAX, Emin=-MAX_EMAX):
        return format(value.normalize(), "f")


def sortable_decimal(value: Decimal) -> str:
    """Fixed-width text whose order is the numeric order of non-negative values."""
    with localcontext(prec=WIDE):
        exact = value.quantize(Decimal(1).scaleb(-MAX_COST_BASIS_PLACES))
    whole, _, fraction = format(exact, "f").partition(".")
    return f"{int(whole):040d}.{fraction.ljust(MAX_COST_BASIS_PLACES, '0')}"
