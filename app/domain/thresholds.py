"""Thresholds on a watched available balance, and their events (docs/thresholds.md).

A threshold is ARMED while the balance it watches is at least `below`, CROSSED while it is
less. A committed change that moves it from one to the other records one event; `decide`
finds it, and the entry after which the balance first passed `below` in that direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from app.domain.grants import AvailabilityPolicy, FundingMethod, Grant, SettlementStatus
from app.domain.time import Duration, add_duration

MAX_PER_CURRENCY = 10  # undeleted thresholds per customer and currency


class ThresholdState(StrEnum):
    ARMED = "ARMED"
    CROSSED = "CROSSED"
    DELETED = "DELETED"


class ThresholdEventType(StrEnum):
    CROSSED = "CROSSED"
    RECOVERED = "RECOVERED"


@dataclass(frozen=True)
class TopUp:
    """What a crossing buys: purchaseCredits' terms, the price computed once at creation."""

    amount: int
    funding_method: FundingMethod
    purchase_currency: str
    cost_basis: Decimal
    price: int
    availability_policy: AvailabilityPolicy
    settlement_status: SettlementStatus
    payment_reference: str | None
    priority: int
    features: tuple[str, ...]
    expires_after: Duration | None


@dataclass
class Threshold:
    id: str
    customer_id: str
    name: str
    currency: str
    feature_key: str | None
    below: int
    state: ThresholdState
    top_up: TopUp | None
    created_at: datetime

    def watches(self, grant: Grant) -> bool:
        """Whether the grant's entries move the watched balance."""
        return self.feature_key is None or grant.can_pay_for(self.feature_key)

    def state_at(self, available: int) -> ThresholdState:
        return ThresholdState.ARMED if available >= self.below else ThresholdState.CROSSED


@dataclass(frozen=True)
class Move:
    """One entry's effect on a threshold's watched balance (0 if it does not count)."""

    entry_id: str
    sequence: int
    booked_at: datetime
    transaction_id: str
    amount: int


@dataclass(frozen=True)
class Passage:
    """A change of state: the event to record and the entry that caused it."""

    type: ThresholdEventType
    move: Move


def decide(threshold: Threshold, before: int, moves: Sequence[Move]) -> Passage | None:
    """The event the moves cause, starting from `before`: none unless the state at their end
    differs from the threshold's. Deleted thresholds never fire."""
    if threshold.state is ThresholdState.DELETED:
        return None
    after = before + sum(move.amount for move in moves)
    target = threshold.state_at(after)
    if target is threshold.state:
        return None
    running = before
    for move in moves:
        running += move.amount
        if threshold.state_at(running) is target:
            crossed = target is ThresholdState.CROSSED
            event = ThresholdEventType.CROSSED if crossed else ThresholdEventType.RECOVERED
            return Passage(event, move)
    raise AssertionError("the last move ends in the target state")


def top_up_expiry(top_up: TopUp, at: datetime) -> datetime | None:
    return None if top_up.expires_after is None else add_duration(at, top_up.expires_after)
