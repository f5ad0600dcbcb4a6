"""The burn order and drawing credits in it: DESIGN §4."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.grants import Grant, stamp
from app.domain.ledger import allocate
from tests.conftest import examples
from tests.domain.factories import DAY, HOUR, T0, funded, grant, purchase


def burn_order(*grants: Grant) -> list[str]:
    """The ids in burn order, checked to be the same whatever order the grants come in."""
    orders = {
        tuple(g.id for g in sorted(permutation, key=Grant.burn_key))
        for permutation in itertools.permutations(grants)
    }
    assert len(orders) == 1
    return list(orders.pop())


# Each level is shown with the earlier levels equal and every later level favouring
# the other grant, so that only this level can decide.


def test_a_lower_priority_number_burns_first_whatever_else_differs():
    first = grant(
        "grt_z",
        priority=5,
        paid=purchase(cost_basis="9"),
        effective_at=T0 + DAY,
        created_at=T0 + DAY,
    )
    second = grant(
        "grt_a",
        priority=6,
        features=("api_calls",),
        expires_at=T0 + HOUR,
        effective_at=T0,
        created_at=T0,
    )
    assert burn_order(first, second) == ["grt_z", "grt_a"]


def test_priorities_compare_as_numbers_not_as_text():
    grants = [grant(f"grt_{p}", priority=p) for p in (1000, 100, 10, 9, 2, 1)]
    assert [g.id for g in sorted(grants, key=Grant.burn_key)] == [
        "grt_1",
        "grt_2",
        "grt_9",
        "grt_10",
        "grt_100",
        "grt_1000",
    ]


def test_restricted_credits_burn_before_unrestricted_ones_of_the_same_priority():
    restricted = grant(
        "grt_z",
        features=("api_calls",),
        paid=purchase(cost_basis="9"),
        effective_at=T0 + DAY,
        created_at=T0 + DAY,
    )
    unrestricted = grant("grt_a", expires_at=T0 + HOUR, effective_at=T0, created_at=T0)
    assert burn_order(restricted, unrestricted) == ["grt_z", "grt_a"]


def test_the_soonest_expiry_burns_first():
    sooner = grant(
        "grt_z",
        expires_at=T0 + DAY,
        paid=purchase(cost_basis="9"),
        effective_at=T0 + HOUR,
        created_at=T0 + HOUR,
    )
    later = grant("grt_a", expires_at=T0 + 2 * DAY, effective_at=T0, created_at=T0)
    assert burn_order(sooner, later) == ["grt_z", "grt_a"]


def test_expiries_a_microsecond_apart_are_ordered():
    sooner = grant("grt_z", expires_at=T0 + DAY, paid=purchase(cost_basis="9"))
    later = grant("grt_a", expires_at=T0 + DAY + timedelta(microseconds=1))
    assert burn_order(sooner, later) == ["grt_z", "grt_a"]


def test_never_expiring_credits_burn_last_even_after_a_far_future_expiry():
    far = grant(
        "grt_z",
        expires_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        paid=purchase(cost_basis="9"),
        effective_at=T0 + DAY,
        created_at=T0 + DAY,
    )
    never = grant("grt_a", expires_at=None, effective_at=T0, created_at=T0)
    assert burn_order(never, far) == ["grt_z", "grt_a"]


def test_the_lowest_cost_basis_burns_first():
    cheap = grant(
        "grt_z",
        paid=purchase(cost_basis="2"),
        effective_at=T0 + DAY,
        created_at=T0 + DAY,
    )
    dear = grant("grt_a", paid=purchase(cost_basis="10"), effective_at=T0, created_at=T0)
    assert burn_order(cheap, dear) == ["grt_z", "grt_a"]


def test_promotional_credits_count_as_cost_basis_zero():
    promotional = grant("grt_z", effective_at=T0 + DAY, created_at=T0 + DAY)
    cheapest_paid = grant(
        "grt_a", paid=purchase(cost_basis="0.000000000001"), effective_at=T0, created_at=T0
    )
    assert burn_order(promotional, cheapest_paid) == ["grt_z", "grt_a"]


def test_cost_bases_a_trillionth_apart_are_ordered():
    cheap = grant("grt_z", paid=purchase(cost_basis="0.500000000001"))
    dear = grant("grt_a", paid=purchase(cost_basis="0.500000000002"))
    assert burn_order(cheap, dear) == ["grt_z", "grt_a"]


def test_the_earliest_effective_at_burns_first():
    earlier = grant("grt_z", effective_at=T0, created_at=T0 + DAY)
    later = grant("grt_a", effective_at=T0 + HOUR, created_at=T0)
    assert burn_order(earlier, later) == ["grt_z", "grt_a"]


def test_the_earliest_created_at_burns_first():
    earlier = grant("grt_z", created_at=T0)
    later = grant("grt_a", created_at=T0 + timedelta(microseconds=1))
    assert burn_order(earlier, later) == ["grt_z", "grt_a"]


def test_the_id_decides_when_all_else_is_equal():
    assert burn_order(grant("grt_01B"), grant("grt_01A")) == ["grt_01A", "grt_01B"]


def test_a_mixed_wallet_burns_in_the_exact_design_order():
    wallet = [
        grant("grt_never", priority=10),
        grant("grt_paid_dear", priority=10, expires_at=T0 + DAY, paid=purchase(cost_basis="3")),
        grant("grt_paid_cheap", priority=10, expires_at=T0 + DAY, paid=purchase(cost_basis="1")),
        grant("grt_promo_late", priority=10, expires_at=T0 + DAY, effective_at=T0 + HOUR),
        grant("grt_promo_early", priority=10, expires_at=T0 + DAY),
        grant("grt_soon", priority=10, expires_at=T0 + HOUR),
        grant("grt_restricted", priority=10, features=("api_calls",)),
        grant("grt_top", priority=1),
        grant("grt_bottom", priority=1000, expires_at=T0 + HOUR, features=("api_calls",)),
    ]
    assert [g.id for g in sorted(reversed(wallet), key=Grant.burn_key)] == [
        "grt_top",
        "grt_restricted",
        "grt_soon",
        "grt_promo_early",
        "grt_promo_late",
        "grt_paid_cheap",
        "grt_paid_dear",
        "grt_never",
        "grt_bottom",
    ]


# ---- drawing credits in burn order


def wallet(*remaining: int) -> list[Grant]:
    made = []
    for index, amount in enumerate(remaining):
        made.append(funded(grant(f"grt_{index}", amount=amount)))
    return made


def drawn(draws: list[tuple[Grant, int]]) -> list[tuple[str, int]]:
    return [(g.id, amount) for g, amount in draws]


def test_allocation_draws_in_order_and_stops_when_satisfied():
    assert drawn(allocate(wallet(300, 500, 1000), 600)) == [("grt_0", 300), ("grt_1", 300)]


def test_allocation_that_empties_a_grant_exactly_does_not_touch_the_next():
    assert drawn(allocate(wallet(300, 500, 1000), 800)) == [("grt_0", 300), ("grt_1", 500)]


def test_allocation_skips_grants_with_nothing_remaining():
    grants = wallet(300, 500, 1000)
    grants[0].consume(300)
    assert drawn(allocate(grants, 600)) == [("grt_1", 500), ("grt_2", 100)]


def test_allocation_short_of_credits_takes_everything():
    assert drawn(allocate(wallet(300, 500), 5000)) == [("grt_0", 300), ("grt_1", 500)]


def test_allocating_nothing_draws_nothing():
    assert allocate(wallet(300), 0) == []


def test_allocation_only_plans_and_changes_no_grant():
    grants = wallet(300, 500)
    allocate(grants, 600)
    assert [g.remaining for g in grants] == [300, 500]


@settings(max_examples=examples(300))
@given(
    remaining=st.lists(st.integers(0, 1000), max_size=12),
    amount=st.integers(0, 15000),
)
def test_allocation_draws_exactly_what_is_asked_or_all_there_is(remaining, amount):
    grants = [grant(f"grt_{i:02d}", amount=r) for i, r in enumerate(remaining)]
    for g in grants:
        g.remaining = g.amount
    draws = allocate(grants, amount)
    assert sum(take for _, take in draws) == min(amount, sum(remaining))
    assert all(0 < take <= g.remaining for g, take in draws)
    ids = [g.id for g, _ in draws]
    assert ids == sorted(ids)  # in the order given, each grant at most once
    assert all(take == g.remaining for g, take in draws[:-1])  # only the last is partial


# ---- bugs


def test_burn_order_compares_instants_not_wall_clock_text():
    plus_five = timezone(timedelta(hours=5))
    # 10:00+05:00 is 05:00Z: sooner than 08:00Z
    sooner = grant("grt_z", expires_at=datetime(2025, 3, 2, 10, 0, tzinfo=plus_five))
    later = grant("grt_a", expires_at=datetime(2025, 3, 2, 8, 0, tzinfo=UTC))
    assert sooner.expires_at is not None and later.expires_at is not None
    assert sooner.expires_at < later.expires_at
    assert burn_order(sooner, later) == ["grt_z", "grt_a"]


def test_stamps_are_twenty_digits_in_every_year_of_the_calendar():
    for year in (1, 999, 1000, 9999):
        assert stamp(datetime(year, 1, 1, tzinfo=UTC)) == f"{year:04d}0101000000000000"
    assert stamp(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "9" * 4 + (
        "1231235959999999"
    )


def test_burn_order_follows_the_calendar_from_year_one_to_9999():
    years = [9999, 2025, 1000, 999, 1]
    wallet = [
        grant(f"grt_{n}", effective_at=datetime(year, 6, 1, tzinfo=UTC))
        for n, year in zip("abcde", years, strict=True)
    ]
    assert [g.id for g in sorted(wallet, key=Grant.burn_key)] == [
        "grt_e",
        "grt_d",
        "grt_c",
        "grt_b",
        "grt_a",
    ]


def test_an_expiry_in_year_999_burns_before_one_in_2025_and_9999_before_never():
    at_999 = grant("grt_z", expires_at=datetime(999, 12, 31, tzinfo=UTC))
    at_2025 = grant("grt_y", expires_at=datetime(2025, 1, 1, tzinfo=UTC))
    at_9999 = grant("grt_x", expires_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    never = grant("grt_a")
    assert burn_order(never, at_9999, at_2025, at_999) == ["grt_z", "grt_y", "grt_x", "grt_a"]
