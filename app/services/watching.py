"""Thresholds checked as a write's entries are flushed (docs/thresholds.md).

Each flush of a write transaction (the catch-up of due events, then the use case's own
change) is checked once: a ledger whose account counts no threshold costs nothing. Its
undeleted thresholds came with its account's read (read again only after one was created
or deleted in the transaction) and each watched balance comes from the maintained
figures: the account's and, with a feature, two scopes' (also read with the account), so
a check that fires nothing runs no statement. An event is recorded when the state at the
end of the entries differs from the threshold's, with the first entry that passed `below`
in that direction. Each CROSSED event of a threshold with a top-up buys it, in the same
transaction; credits available at once may recover thresholds, which is checked over the
top-up's entries alone. A top-up only adds credits, so it never crosses anything: nothing
can loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain.events import Change
from app.domain.grants import Grant, Purchase
from app.domain.ids import new_id
from app.domain.ledger import RESTRICTED, SYSTEM, Account, Booking, Entry
from app.domain.thresholds import (
    Move,
    Passage,
    Threshold,
    ThresholdEventType,
    decide,
    top_up_expiry,
)
from app.domain.webhooks import EventType
from app.services.books import Books
from app.storage import thresholds as stored

EVENT_TYPES = {
    ThresholdEventType.CROSSED: EventType.CREDIT_THRESHOLD_CROSSED,
    ThresholdEventType.RECOVERED: EventType.CREDIT_THRESHOLD_RECOVERED,
}


@dataclass
class Found:
    threshold: Threshold
    passage: Passage
    event_id: str = field(default_factory=lambda: new_id("threshold_event"))
    grant_id: str | None = None


@dataclass
class Watch:
    """What a flush's check decided: events and states to write once its entries are in."""

    events: list[dict[str, Any]] = field(default_factory=list)
    changed: list[Threshold] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)  # last event sequence per ledger

    async def write(self, books: Books) -> None:
        if self.changed:
            await stored.set_states(books.connection, self.changed, {"updated_at": books.now})
        if self.events:
            await stored.insert_events(books.connection, self.events)


async def watch(books: Books) -> Watch:
    """Check the thresholds of every ledger the flush's entries move (before it writes)."""
    result = Watch()
    for currency in sorted({entry.currency for entry in books.entries}):
        account = books.accounts[currency]
        if account.thresholds:
            await _check(books, account, result)
    return result


async def _check(books: Books, account: Account, result: Watch) -> None:
    watched = books.watched.get(account.currency)
    if watched is None:  # created or deleted in this transaction
        watched = await stored.watching(books.connection, books.customer_id, account.currency)
        books.watched[account.currency] = watched
    own = [entry for entry in books.entries if entry.currency == account.currency]
    starts: dict[str, int] = {}
    found = []
    for threshold in watched:
        moves = _moves(books, threshold, own)
        starts[threshold.id] = await available(books, threshold) - sum(m.amount for m in moves)
        found += _passed(threshold, starts[threshold.id], moves)
    found.sort(key=lambda f: f.passage.move.sequence)  # stable: oldest threshold first
    # Webhooks: the events of the flush's own entries follow its changes, before the top-ups'.
    own_events, noted = len(found), len(books.changes)
    mark = len(books.entries)
    for item in found:
        if item.passage.type is ThresholdEventType.CROSSED and item.threshold.top_up:
            item.grant_id = await _buy(books, item)
    bought = books.entries[mark:]
    if bought:
        for threshold in watched:
            moves = _moves(books, threshold, bought)
            end = await available(books, threshold)
            found += _passed(threshold, end - sum(m.amount for m in moves), moves)
    for index, item in enumerate(found):
        threshold = item.threshold
        account.threshold_sequence += 1
        after = await available(books, threshold)
        row = _event_row(item, account, starts[threshold.id], after)
        result.events.append(row)
        place = noted + index if index < own_events else len(books.changes)
        books.changes.insert(place, Change(EVENT_TYPES[item.passage.type], item.event_id, row))
        if threshold not in result.changed:
            result.changed.append(threshold)
    if found:  # subscribers (and PostgreSQL's notification) learn of ledgers with events only
        result.sequences[account.currency] = account.threshold_sequence


def _passed(threshold: Threshold, before: int, moves: list[Move]) -> list[Found]:
    passage = decide(threshold, before, moves)
    if passage is None:
        return []
    threshold.state = threshold.state_at(before + sum(m.amount for m in moves))
    return [Found(threshold, passage)]


def _moves(books: Books, threshold: Threshold, entries: list[Entry]) -> list[Move]:
    return [
        Move(
            entry.id,
            entry.sequence,
            entry.booked_at,
            entry.transaction_id,
            entry.amount if threshold.watches(books.grants[entry.grant_id]) else 0,
        )
        for entry in entries
    ]


async def available(books: Books, threshold: Threshold) -> int:
    """The watched balance now, from maintained figures: with a feature, every grant's minus
    the restricted grants' plus the feature's."""
    account = await books.account(threshold.currency)
    if threshold.feature_key is None:
        return account.available
    restricted = await books.scope(threshold.currency, RESTRICTED)
    feature = await books.scope(threshold.currency, threshold.feature_key)
    return account.available - restricted.available + feature.available


async def _buy(books: Books, found: Found) -> str:
    """The top-up a crossing buys, as purchaseCredits would with its terms: actor SYSTEM,
    key `topup:<event id>`, in the crossing entry's transaction."""
    threshold, now = found.threshold, books.now
    top_up = threshold.top_up
    assert top_up is not None
    purchase = Purchase(
        currency=top_up.purchase_currency,
        cost_basis=top_up.cost_basis,
        amount=top_up.price,
        availability_policy=top_up.availability_policy,
        settlement_status=top_up.settlement_status,
        payment_reference=top_up.payment_reference,
    )
    purchase.record_initial_status(now)
    grant = Grant(
        id=new_id("grant"),
        customer_id=books.customer_id,
        currency=threshold.currency,
        amount=top_up.amount,
        funding_method=top_up.funding_method,
        priority=top_up.priority,
        features=top_up.features,
        effective_at=now,
        expires_at=top_up_expiry(top_up, now),
        created_at=now,
        purchase=purchase,
    )
    key = f"topup:{found.event_id}"
    details: dict[str, object] = {
        "key": key,
        "fingerprint": key,
        "name": f"Top-up: {threshold.name}",
        "description": f"Bought by threshold {threshold.id}",
        "labels": [],
    }
    books.add_grant(grant, details)
    grant.become_fundable(now)
    booking = Booking(found.passage.move.transaction_id, SYSTEM, now, now)
    await books.fund_if_due(grant, booking)
    return grant.id


def _event_row(found: Found, account: Account, before: int, after: int) -> dict[str, Any]:
    move = found.passage.move
    return {
        "id": found.event_id,
        "threshold_id": found.threshold.id,
        "customer_id": account.customer_id,
        "currency": account.currency,
        "sequence": account.threshold_sequence,
        "type": found.passage.type.value,
        "available_before": before,
        "available_after": after,
        "entry_id": move.entry_id,
        "top_up_grant_id": found.grant_id,
        "occurred_at": move.booked_at,
    }
