"""A paid grant's payment moves: DESIGN §3.4."""

from __future__ import annotations

import itertools

import pytest

from app.domain.errors import InvalidState
from app.domain.grants import SETTLEMENT_MOVES, Purchase, SettlementStatus
from tests.domain.factories import DAY, HOUR, T0, purchase

PENDING = SettlementStatus.PENDING
AUTHORIZED = SettlementStatus.AUTHORIZED
SETTLED = SettlementStatus.SETTLED
FAILED = SettlementStatus.FAILED

ALLOWED = [
    (PENDING, AUTHORIZED),
    (PENDING, SETTLED),
    (PENDING, FAILED),
    (AUTHORIZED, SETTLED),
    (AUTHORIZED, FAILED),
]
REFUSED = [
    (current, target)
    for current, target in itertools.product(SettlementStatus, repeat=2)
    if current is not target and (current, target) not in ALLOWED
]


def payment(status: SettlementStatus) -> Purchase:
    return purchase(status=status)


def timestamps(paid: Purchase) -> tuple[object, ...]:
    return (paid.authorized_at, paid.settled_at, paid.failed_at)


def test_the_allowed_moves_are_exactly_those_of_the_design():
    allowed = {
        (current, target) for current, targets in SETTLEMENT_MOVES.items() for target in targets
    }
    assert allowed == set(ALLOWED)


def test_every_other_move_between_different_states_is_refused():
    assert set(REFUSED) == {
        (AUTHORIZED, PENDING),
        (SETTLED, PENDING),
        (SETTLED, AUTHORIZED),
        (SETTLED, FAILED),
        (FAILED, PENDING),
        (FAILED, AUTHORIZED),
        (FAILED, SETTLED),
    }


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_an_allowed_move_changes_the_payment_status(current, target):
    paid = payment(current)
    assert paid.move(target, T0) is True
    assert paid.settlement_status is target


@pytest.mark.parametrize("status", [AUTHORIZED, SETTLED, FAILED])
def test_asking_for_the_current_status_is_a_replay_that_changes_nothing(status):
    paid = payment(PENDING)
    paid.move(status, T0)
    before = timestamps(paid)
    assert paid.move(status, T0 + DAY) is False
    assert paid.settlement_status is status
    assert timestamps(paid) == before


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_a_refused_move_raises_invalid_state_naming_the_payment_status(current, target):
    paid = payment(current)
    with pytest.raises(InvalidState) as refused:
        paid.move(target, T0)
    assert refused.value.current_state == current.value
    assert refused.value.message == f"A {current.value} payment cannot become {target.value}"
    assert paid.settlement_status is current
    assert timestamps(paid) == (None, None, None)


def test_settling_a_pending_payment_also_authorizes_it_at_the_same_instant():
    paid = payment(PENDING)
    paid.move(SETTLED, T0 + HOUR)
    assert timestamps(paid) == (T0 + HOUR, T0 + HOUR, None)


def test_settling_an_authorized_payment_keeps_when_it_was_authorized():
    paid = payment(PENDING)
    paid.move(AUTHORIZED, T0 + HOUR)
    paid.move(SETTLED, T0 + DAY)
    assert timestamps(paid) == (T0 + HOUR, T0 + DAY, None)


def test_a_failed_payment_records_only_when_it_failed():
    paid = payment(PENDING)
    paid.move(FAILED, T0 + HOUR)
    assert timestamps(paid) == (None, None, T0 + HOUR)


def test_an_authorized_payment_that_fails_keeps_its_authorization():
    paid = payment(PENDING)
    paid.move(AUTHORIZED, T0 + HOUR)
    paid.move(FAILED, T0 + DAY)
    assert timestamps(paid) == (T0 + HOUR, None, T0 + DAY)


def test_a_payment_event_is_recorded_at_the_instant_it_occurred_even_in_the_past():
    paid = payment(PENDING)
    paid.move(AUTHORIZED, T0 - 3 * DAY)
    assert paid.authorized_at == T0 - 3 * DAY


def test_a_payment_pending_at_creation_records_nothing():
    paid = payment(PENDING)
    paid.record_initial_status(T0)
    assert timestamps(paid) == (None, None, None)


def test_a_payment_authorized_at_creation_was_authorized_by_then():
    paid = payment(AUTHORIZED)
    paid.record_initial_status(T0)
    assert timestamps(paid) == (T0, None, None)


def test_a_payment_settled_at_creation_was_authorized_and_settled_by_then():
    paid = payment(SETTLED)
    paid.record_initial_status(T0)
    assert timestamps(paid) == (T0, T0, None)
