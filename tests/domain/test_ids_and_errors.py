"""Typed ids and the one tree of expected failures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.errors import (
    DomainError,
    Forbidden,
    InsufficientCredits,
    InvalidState,
    KeyConflict,
    NotFound,
    ValidationFailed,
)
from app.domain.ids import ID_PATTERN, PREFIXES, kind_of, new_id


@pytest.mark.parametrize("kind", sorted(PREFIXES))
def test_a_new_id_names_its_kind(kind):
    made = new_id(kind)
    assert made.startswith(PREFIXES[kind] + "_")
    assert len(made) == 4 + 26
    assert ID_PATTERN.match(made)
    assert kind_of(made) == kind


def test_every_new_id_is_different():
    assert len({new_id("grant") for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    "text",
    [
        "",
        "grt_",
        "grt",
        "grt_01J9ZZZZZZZZZZZZZZZZZZZZZ",  # 25 characters
        "grt_01J9ZZZZZZZZZZZZZZZZZZZZZZZ",  # 27 characters
        "grt_01j9zzzzzzzzzzzzzzzzzzzzzz",  # lowercase
        "grt_01J9ZZZZZZZZZZZZZZZZZZZZZU",  # U is not Crockford base 32
        "GRT_01J9ZZZZZZZZZZZZZZZZZZZZZZ",
        "xyz_01J9ZZZZZZZZZZZZZZZZZZZZZZ",  # no such kind
        " grt_01J9ZZZZZZZZZZZZZZZZZZZZZZ",
    ],
)
def test_a_malformed_id_names_no_kind(text):
    assert kind_of(text) is None


def test_a_well_formed_id_of_each_kind_is_recognised():
    assert kind_of("cus_01J9ZZZZZZZZZZZZZZZZZZZZZZ") == "customer"
    assert kind_of("csm_01J9ZZZZZZZZZZZZZZZZZZZZZZ") == "consumption"


def test_every_expected_failure_is_a_domain_error():
    failures: list[DomainError] = [
        ValidationFailed([]),
        NotFound("Customer", "cus_1"),
        KeyConflict("k"),
        InsufficientCredits("USD", Decimal("10.00"), Decimal("2.50")),
        InvalidState("DEPLETED", "no"),
        Forbidden(),
    ]
    assert all(isinstance(failure, DomainError) for failure in failures)


def test_failure_messages_name_what_failed():
    assert NotFound("Customer", "cus_1").message == "Customer cus_1 not found"
    assert NotFound("Customer", None).message == "Customer not found"
    assert KeyConflict("k-1").message == "Key 'k-1' was already used with a different input"
    short = InsufficientCredits("USD", Decimal("10.00"), Decimal("2.50"))
    assert short.message == "Insufficient credits: requested 10.00 USD, 2.50 available"
    assert (short.requested, short.available) == (Decimal("10.00"), Decimal("2.50"))
    assert Forbidden().message == "Not allowed"
    refused = InvalidState("SETTLED", "A SETTLED payment cannot become FAILED")
    assert (refused.current_state, str(refused)) == (
        "SETTLED",
        "A SETTLED payment cannot become FAILED",
    )


def test_an_id_with_a_trailing_newline_is_malformed():
    assert kind_of(new_id("grant") + "\n") is None
