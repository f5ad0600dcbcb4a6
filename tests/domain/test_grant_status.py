"""A grant's status, derived at the instant asked in the order of DESIGN §3.3."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidState
from app.domain.grants import GrantStatus, SettlementStatus
from tests.domain.factories import DAY, HOUR, SECOND, T0, funded, grant, purchase

# ---- 1. voidedAt set -> VOIDED, before anything else


def test_a_voided_grant_is_voided_from_the_instant_it_was_voided():
    voided = funded(grant())
    voided.void(T0 + HOUR, "customer left")
    assert voided.status(T0 + HOUR) is GrantStatus.VOIDED
    assert voided.status(T0 + 30 * DAY) is GrantStatus.VOIDED


def test_void_beats_an_expiry_that_has_passed():
    voided = funded(grant(expires_at=T0 + DAY))
    voided.void(T0 + HOUR, None)
    assert voided.status(T0 + 2 * DAY) is GrantStatus.VOIDED


def test_void_beats_an_expiry_that_was_booked():
    voided = funded(grant(expires_at=T0 + DAY))
    voided.consume(400)
    voided.void(T0 + HOUR, None)
    voided.expiry_booked = True
    assert voided.status(T0 + 2 * DAY) is GrantStatus.VOIDED


def test_a_voided_grant_that_was_never_funded_is_voided_not_pending():
    waiting = grant(paid=purchase())
    waiting.void(T0 + HOUR, "payment failed")
    assert waiting.status(T0 + HOUR) is GrantStatus.VOIDED


def test_before_its_voided_at_a_never_funded_grant_is_still_pending():
    waiting = grant(paid=purchase())
    waiting.void(T0 + HOUR, None)
    assert waiting.status(T0 + HOUR - SECOND) is GrantStatus.PENDING


def test_before_its_voided_at_a_funded_grant_with_credits_left_is_active():
    active = funded(grant())
    active.voided_at = T0 + HOUR  # the void is not visible at an earlier instant
    assert active.status(T0 + HOUR - SECOND) is GrantStatus.ACTIVE
    assert active.status(T0 + HOUR) is GrantStatus.VOIDED


# ---- 2. expiry passed -> DEPLETED if funded and nothing expired, else EXPIRED


def test_a_fully_consumed_grant_whose_expiry_passed_is_depleted():
    used_up = funded(grant(expires_at=T0 + DAY))
    used_up.consume(1000)
    assert used_up.status(T0 + DAY) is GrantStatus.DEPLETED
    used_up.expire()  # books nothing: nothing remained
    assert used_up.expired == 0
    assert used_up.status(T0 + 2 * DAY) is GrantStatus.DEPLETED


def test_a_grant_whose_expiry_forfeited_credits_is_expired():
    partly_used = funded(grant(expires_at=T0 + DAY))
    partly_used.consume(600)
    assert partly_used.expire() == -400
    assert partly_used.status(T0 + DAY) is GrantStatus.EXPIRED


def test_a_grant_past_expiry_with_credits_not_yet_booked_as_expired_is_expired():
    # the scheduler is behind: the expiry has passed but no EXPIRED entry yet
    unbooked = funded(grant(expires_at=T0 + DAY))
    unbooked.consume(1)
    assert unbooked.status(T0 + DAY) is GrantStatus.EXPIRED


def test_a_grant_that_was_never_funded_is_expired_once_its_expiry_passed():
    waiting = grant(paid=purchase(status=SettlementStatus.PENDING), expires_at=T0 + DAY)
    assert waiting.status(T0 + DAY - SECOND) is GrantStatus.PENDING
    assert waiting.status(T0 + DAY) is GrantStatus.EXPIRED
    waiting.expire()
    assert waiting.status(T0 + DAY) is GrantStatus.EXPIRED


def test_expiry_counts_as_passed_at_the_expiry_instant_itself():
    active = funded(grant(expires_at=T0 + DAY))
    assert active.status(T0 + DAY - SECOND) is GrantStatus.ACTIVE
    assert active.status(T0 + DAY) is GrantStatus.EXPIRED


def test_credits_restored_to_a_depleted_grant_after_its_expiry_make_it_expired():
    used_up = funded(grant(expires_at=T0 + DAY))
    used_up.consume(1000)
    used_up.expire()
    used_up.restore(250)
    assert used_up.forfeit_restored(250, T0 + 2 * DAY) is GrantStatus.EXPIRED
    assert used_up.status(T0 + 2 * DAY) is GrantStatus.EXPIRED


# ---- 3. not funded -> PENDING


def test_a_grant_effective_in_the_future_is_pending_until_funded():
    later = grant(effective_at=T0 + DAY)
    assert later.status(T0) is GrantStatus.PENDING


def test_a_grant_waiting_for_its_payment_is_pending():
    waiting = grant(paid=purchase(status=SettlementStatus.AUTHORIZED))
    assert waiting.status(T0 + 30 * DAY) is GrantStatus.PENDING


def test_before_its_funded_at_a_grant_is_pending_and_from_then_on_active():
    later = funded(grant(), at=T0 + HOUR)
    assert later.status(T0 + HOUR - SECOND) is GrantStatus.PENDING
    assert later.status(T0 + HOUR) is GrantStatus.ACTIVE


# ---- 4. nothing remaining -> DEPLETED; 5. otherwise ACTIVE


def test_a_funded_grant_with_credits_left_is_active():
    active = funded(grant(expires_at=T0 + DAY))
    active.consume(999)
    assert active.status(T0 + HOUR) is GrantStatus.ACTIVE


def test_a_funded_grant_with_nothing_left_is_depleted():
    used_up = funded(grant())
    used_up.consume(1000)
    assert used_up.status(T0 + HOUR) is GrantStatus.DEPLETED


def test_a_depleted_grant_with_credits_restored_is_active_again():
    used_up = funded(grant())
    used_up.consume(1000)
    used_up.restore(1)
    assert used_up.status(T0 + HOUR) is GrantStatus.ACTIVE


# ---- voiding: PENDING and ACTIVE can be; VOIDED is a replay; the rest refuse


def test_a_pending_grant_can_be_voided():
    assert grant(effective_at=T0 + DAY).check_voidable(T0) is True


def test_an_active_grant_can_be_voided():
    assert funded(grant()).check_voidable(T0) is True


def test_voiding_a_voided_grant_is_a_replay():
    voided = funded(grant())
    voided.void(T0, None)
    assert voided.check_voidable(T0 + HOUR) is False


def test_a_depleted_grant_cannot_be_voided():
    used_up = funded(grant())
    used_up.consume(1000)
    with pytest.raises(InvalidState) as refused:
        used_up.check_voidable(T0 + HOUR)
    assert refused.value.current_state == "DEPLETED"
    assert refused.value.message == "A DEPLETED grant cannot be voided"


def test_an_expired_grant_cannot_be_voided():
    lapsed = funded(grant(expires_at=T0 + DAY))
    with pytest.raises(InvalidState) as refused:
        lapsed.check_voidable(T0 + DAY)
    assert refused.value.current_state == "EXPIRED"
    assert refused.value.message == "A EXPIRED grant cannot be voided"


# ---- pending: what a balance counts as not yet funded (DESIGN §6)


def test_a_grant_is_pending_from_its_creation_until_it_is_funded():
    waiting = grant(effective_at=T0 + DAY)
    assert [waiting.pending_at(at) for at in (T0 - SECOND, T0, T0 + DAY - SECOND)] == [
        False,
        True,
        True,
    ]
    funded(waiting, T0 + DAY)
    assert (waiting.pending_at(T0 + DAY - SECOND), waiting.pending_at(T0 + DAY)) == (True, False)


def test_a_grant_voided_or_expired_before_funding_stops_being_pending_then():
    voided = grant(paid=purchase())
    voided.void(T0 + HOUR, "payment failed")
    lapsed = grant(effective_at=T0 + 2 * DAY, expires_at=T0 + DAY)
    assert (voided.pending_at(T0 + HOUR - SECOND), voided.pending_at(T0 + HOUR)) == (True, False)
    assert (lapsed.pending_at(T0 + DAY - SECOND), lapsed.pending_at(T0 + DAY)) == (True, False)
