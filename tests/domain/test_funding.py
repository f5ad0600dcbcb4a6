"""When a grant becomes fundable, when it is funded, its next event, and its movements:
DESIGN §3.2, §3.5 and §4."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.grants import AvailabilityPolicy, GrantStatus, SettlementStatus
from tests.conftest import examples
from tests.domain.factories import DAY, HOUR, T0, funded, grant, purchase

# ---- the availability policy


@pytest.mark.parametrize(
    ("policy", "status", "met"),
    [
        (AvailabilityPolicy.ON_CREATION, SettlementStatus.PENDING, True),
        (AvailabilityPolicy.ON_CREATION, SettlementStatus.AUTHORIZED, True),
        (AvailabilityPolicy.ON_CREATION, SettlementStatus.SETTLED, True),
        (AvailabilityPolicy.ON_AUTHORIZATION, SettlementStatus.PENDING, False),
        (AvailabilityPolicy.ON_AUTHORIZATION, SettlementStatus.AUTHORIZED, True),
        (AvailabilityPolicy.ON_AUTHORIZATION, SettlementStatus.SETTLED, True),
        (AvailabilityPolicy.ON_AUTHORIZATION, SettlementStatus.FAILED, False),
        (AvailabilityPolicy.ON_SETTLEMENT, SettlementStatus.PENDING, False),
        (AvailabilityPolicy.ON_SETTLEMENT, SettlementStatus.AUTHORIZED, False),
        (AvailabilityPolicy.ON_SETTLEMENT, SettlementStatus.SETTLED, True),
        (AvailabilityPolicy.ON_SETTLEMENT, SettlementStatus.FAILED, False),
    ],
)
def test_the_availability_policy_is_met_by_these_payment_states(policy, status, met):
    assert purchase(policy=policy, status=status).policy_met() is met


def test_a_promotional_grant_is_fundable_at_creation():
    promotional = grant()
    promotional.become_fundable(T0)
    assert promotional.fundable_at == T0


def test_a_paid_grant_on_creation_is_fundable_at_creation_while_its_payment_is_pending():
    paid = grant(paid=purchase(policy=AvailabilityPolicy.ON_CREATION))
    paid.become_fundable(T0)
    assert paid.fundable_at == T0


@pytest.mark.parametrize("status", [SettlementStatus.AUTHORIZED, SettlementStatus.SETTLED])
def test_on_authorization_becomes_fundable_once_authorized_or_settled(status):
    paid = grant(paid=purchase(policy=AvailabilityPolicy.ON_AUTHORIZATION))
    paid.become_fundable(T0)
    assert paid.fundable_at is None
    assert paid.purchase is not None
    paid.purchase.move(status, T0 + HOUR)
    paid.become_fundable(T0 + HOUR)
    assert paid.fundable_at == T0 + HOUR


def test_on_settlement_becomes_fundable_only_once_settled():
    paid = grant(paid=purchase(policy=AvailabilityPolicy.ON_SETTLEMENT))
    assert paid.purchase is not None
    paid.become_fundable(T0)
    assert paid.fundable_at is None
    paid.purchase.move(SettlementStatus.AUTHORIZED, T0 + HOUR)
    paid.become_fundable(T0 + HOUR)
    assert paid.fundable_at is None
    paid.purchase.move(SettlementStatus.SETTLED, T0 + 2 * HOUR)
    paid.become_fundable(T0 + 2 * HOUR)
    assert paid.fundable_at == T0 + 2 * HOUR
    assert paid.funding_instant() == T0 + 2 * HOUR


def test_a_voided_grant_never_becomes_fundable():
    paid = grant(paid=purchase(policy=AvailabilityPolicy.ON_SETTLEMENT))
    paid.void(T0 + HOUR, None)
    assert paid.purchase is not None
    paid.purchase.settlement_status = SettlementStatus.SETTLED
    paid.become_fundable(T0 + 2 * HOUR)
    assert paid.fundable_at is None
    assert paid.funding_instant() is None
    assert paid.next_event_at() is None


def test_an_expired_grant_never_becomes_fundable():
    paid = grant(paid=purchase(policy=AvailabilityPolicy.ON_SETTLEMENT), expires_at=T0 + DAY)
    assert paid.purchase is not None
    paid.purchase.move(SettlementStatus.SETTLED, T0 + 2 * DAY)
    paid.become_fundable(T0 + 2 * DAY)
    assert paid.fundable_at is None
    assert paid.funding_instant() is None


def test_a_grant_keeps_the_first_instant_it_became_fundable():
    promotional = grant(effective_at=T0 + DAY)
    promotional.become_fundable(T0)
    promotional.become_fundable(T0 + HOUR)
    assert promotional.fundable_at == T0


def test_a_funded_grant_does_not_become_fundable_again():
    active = grant()
    active.fund(T0)
    active.become_fundable(T0 + HOUR)
    assert active.fundable_at is None
    assert active.funded_at == T0


# ---- the funding instant: max(effectiveAt, fundable instant)


def test_a_grant_effective_now_is_funded_when_it_becomes_fundable():
    promotional = grant(effective_at=T0)
    promotional.become_fundable(T0)
    assert promotional.funding_instant() == T0


def test_a_grant_effective_later_is_funded_at_its_effective_at():
    later = grant(effective_at=T0 + DAY)
    later.become_fundable(T0)
    assert later.funding_instant() == T0 + DAY


def test_a_backdated_grant_settled_later_is_funded_at_settlement_not_at_effective_at():
    paid = grant(paid=purchase(policy=AvailabilityPolicy.ON_SETTLEMENT), effective_at=T0 - DAY)
    assert paid.purchase is not None
    paid.purchase.move(SettlementStatus.SETTLED, T0)
    paid.become_fundable(T0)
    assert paid.funding_instant() == T0


def test_a_grant_that_is_not_fundable_has_no_funding_instant():
    waiting = grant(paid=purchase(policy=AvailabilityPolicy.ON_SETTLEMENT))
    waiting.become_fundable(T0)
    assert waiting.funding_instant() is None


def test_a_grant_whose_expiry_comes_before_its_funding_is_never_funded():
    late = grant(effective_at=T0, expires_at=T0 + HOUR)
    late.fundable_at = T0 + 2 * HOUR
    assert late.funding_instant() is None


def test_a_grant_expiring_at_its_funding_instant_is_never_funded():
    late = grant(effective_at=T0, expires_at=T0 + HOUR)
    late.fundable_at = T0 + HOUR
    assert late.funding_instant() is None


def test_a_grant_voided_before_its_funding_is_never_funded():
    later = grant(effective_at=T0 + DAY)
    later.become_fundable(T0)
    later.void(T0 + HOUR, None)
    assert later.funding_instant() is None
    assert later.next_event_at() is None


def test_the_funding_instant_of_a_funded_grant_is_when_it_was_funded():
    active = funded(grant(), at=T0 + HOUR)
    assert active.funding_instant() == T0 + HOUR
    active.void(T0 + 2 * HOUR, None)
    assert active.funding_instant() == T0 + HOUR


# ---- the next time-driven event: funding, then expiry, then none


def test_the_next_events_are_funding_then_expiry_then_none():
    later = grant(effective_at=T0 + DAY, expires_at=T0 + 10 * DAY)
    later.become_fundable(T0)
    assert later.next_event_at() == T0 + DAY
    assert later.fund(T0 + DAY) == 1000
    assert later.next_event_at() == T0 + 10 * DAY
    assert later.expire() == -1000
    assert later.next_event_at() is None


def test_a_funded_grant_that_never_expires_has_no_next_event():
    assert funded(grant()).next_event_at() is None


def test_a_grant_waiting_for_payment_has_its_expiry_as_next_event():
    waiting = grant(paid=purchase(policy=AvailabilityPolicy.ON_SETTLEMENT), expires_at=T0 + DAY)
    waiting.become_fundable(T0)
    assert waiting.next_event_at() == T0 + DAY


def test_a_grant_waiting_for_payment_without_expiry_has_no_next_event():
    waiting = grant(paid=purchase(policy=AvailabilityPolicy.ON_SETTLEMENT))
    waiting.become_fundable(T0)
    assert waiting.next_event_at() is None


def test_a_grant_that_will_expire_before_funding_has_its_expiry_as_next_event():
    late = grant(effective_at=T0, expires_at=T0 + HOUR)
    late.fundable_at = T0 + 2 * HOUR
    assert late.next_event_at() == T0 + HOUR


def test_a_voided_grant_has_no_next_event():
    voided = funded(grant(expires_at=T0 + DAY))
    voided.void(T0 + HOUR, None)
    assert voided.next_event_at() is None


# ---- movements and the signed amounts they book


def test_funding_makes_the_whole_amount_remaining():
    fresh = grant(amount=1234)
    assert fresh.fund(T0) == 1234
    assert (fresh.funded_at, fresh.remaining) == (T0, 1234)


def test_consuming_and_restoring_move_remaining_and_consumed():
    active = funded(grant())
    assert active.consume(300) == -300
    assert (active.remaining, active.consumed) == (700, 300)
    assert active.restore(100) == 100
    assert (active.remaining, active.consumed) == (800, 200)


def test_a_grant_is_never_overdrawn():
    active = funded(grant())
    with pytest.raises(AssertionError):
        active.consume(1001)
    with pytest.raises(AssertionError):
        active.consume(0)
    assert active.remaining == 1000


def test_expiry_forfeits_what_remains():
    active = funded(grant(expires_at=T0 + DAY))
    active.consume(250)
    assert active.expire() == -750
    assert (active.remaining, active.expired, active.expiry_booked) == (0, 750, True)


def test_expiry_of_a_used_up_grant_forfeits_nothing():
    used_up = funded(grant(expires_at=T0 + DAY))
    used_up.consume(1000)
    assert used_up.expire() == 0
    assert used_up.expired == 0


def test_a_void_forfeits_what_remains_and_keeps_what_was_consumed():
    active = funded(grant())
    active.consume(400)
    assert active.void(T0 + HOUR, "payment failed") == -600
    assert (active.voided_at, active.void_reason) == (T0 + HOUR, "payment failed")
    assert (active.remaining, active.consumed, active.voided) == (0, 400, 600)


def test_voiding_a_grant_never_funded_forfeits_nothing():
    waiting = grant(paid=purchase())
    assert waiting.void(T0, None) == 0
    assert waiting.voided == 0


def test_credits_restored_to_a_voided_grant_are_forfeited_at_once():
    voided = funded(grant())
    voided.consume(400)
    voided.void(T0 + HOUR, None)
    voided.restore(150)
    assert voided.forfeit_restored(150, T0 + 2 * HOUR) is GrantStatus.VOIDED
    assert (voided.remaining, voided.consumed, voided.voided) == (0, 250, 750)


def test_credits_restored_to_an_expired_grant_are_forfeited_at_once():
    lapsed = funded(grant(expires_at=T0 + DAY))
    lapsed.consume(400)
    lapsed.expire()
    lapsed.restore(150)
    assert lapsed.forfeit_restored(150, T0 + DAY) is GrantStatus.EXPIRED
    assert (lapsed.remaining, lapsed.consumed, lapsed.expired) == (0, 250, 750)


def test_credits_restored_to_an_active_grant_stay():
    active = funded(grant(expires_at=T0 + DAY))
    active.consume(400)
    active.restore(150)
    assert active.forfeit_restored(150, T0 + DAY - HOUR) is None
    assert (active.remaining, active.consumed, active.expired, active.voided) == (750, 250, 0, 0)


def test_only_features_listed_or_no_features_can_pay_for_a_feature():
    unrestricted = grant()
    restricted = grant(features=("api_calls", "storage"))
    assert unrestricted.can_pay_for(None) and unrestricted.can_pay_for("gpu")
    assert restricted.can_pay_for("api_calls") and restricted.can_pay_for("storage")
    assert not restricted.can_pay_for("gpu")
    assert not restricted.can_pay_for(None)


def test_a_promotional_grant_has_a_cost_basis_of_zero_and_a_paid_one_its_own():
    assert str(grant().cost_basis) == "0"
    assert str(grant(paid=purchase(cost_basis="0.25")).cost_basis) == "0.25"


MOVES = st.lists(
    st.tuples(st.sampled_from(["consume", "restore"]), st.integers(1, 400)), max_size=30
)


@settings(max_examples=examples(200))
@given(moves=MOVES, end=st.sampled_from(["expire", "void", "none"]))
def test_a_grant_always_accounts_for_its_whole_amount(moves, end):
    active = funded(grant(amount=1000, expires_at=T0 + DAY))
    for kind, amount in moves:
        if kind == "consume" and amount <= active.remaining:
            assert active.consume(amount) == -amount
        elif kind == "restore" and amount <= active.consumed:
            assert active.restore(amount) == amount
        assert 0 <= active.remaining <= active.amount
    if end == "expire":
        active.expire()
    elif end == "void":
        active.void(T0 + HOUR, None)
    parts = active.remaining + active.consumed + active.expired + active.voided
    assert parts == active.amount
