"""Reversing all or part of a consumption (docs/concepts.md, reversal and void)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from app.domain.balances import Balance
from app.domain.errors import Issue, Issues, ValidationFailed
from app.domain.events import Change
from app.domain.grants import GrantStatus
from app.domain.ids import new_id
from app.domain.ledger import Actor, EntryType
from app.domain.money import amount_problem, to_minor
from app.domain.validation import check_text
from app.domain.webhooks import EventType
from app.services.common import (
    Frame,
    Owned,
    check_id,
    check_key,
    customer_transaction,
    fingerprint,
    keyed_row,
)
from app.services.runtime import Runtime
from app.storage.tables import consumptions, entries, reversals

AMOUNT = ("input", "amount")


@dataclass(frozen=True)
class ReversalOutcome:
    consumption_id: str
    entry_ids: list[str]
    balance: Balance
    replayed: bool


async def reverse_credit_consumption(
    runtime: Runtime,
    *,
    actor: Actor,
    consumption_id: str,
    key: str,
    amount: Decimal | None = None,
    reason: str | None = None,
) -> ReversalOutcome:
    issues = Issues()
    check_id(issues, ("input", "consumptionId"), consumption_id)
    check_key(issues, ("input", "key"), key)
    check_text(issues, ("input", "reason"), reason, low=0, high=1024, lines=True)
    issues.raise_any()
    owned = Owned(consumptions, "consumption", consumption_id, "Credit consumption")
    print_ = fingerprint(
        "reversal", {"consumptionId": consumption_id, "amount": amount, "reason": reason}
    )
    transaction_id = new_id("transaction")
    async with customer_transaction(runtime, owned, actor, transaction_id) as frame:
        row = (
            await frame.connection.execute(
                select(consumptions).where(consumptions.c.id == consumption_id)
            )
        ).one()
        replayed = await _replay(frame, key, print_)
        if replayed is not None:
            return ReversalOutcome(
                consumption_id, replayed, await frame.balance(row.currency), True
            )
        currency = await runtime.catalog.get(row.currency)
        assert currency is not None
        reversible = row.consumed - row.reversed
        wanted = reversible
        if amount is not None:
            problem = amount_problem(amount, currency)
            if problem:
                raise ValidationFailed([Issue(AMOUNT, problem)])
            wanted = to_minor(amount, currency.scale)
        if reversible == 0:
            raise ValidationFailed(
                [Issue(AMOUNT, "nothing of this consumption is left to reverse")]
            )
        if wanted > reversible:
            raise ValidationFailed(
                [Issue(AMOUNT, "exceeds what is left to reverse of this consumption")]
            )
        booked, drawn = await _restore(frame, consumption_id, wanted, reason)
        await frame.connection.execute(
            update(consumptions)
            .where(consumptions.c.id == consumption_id)
            .values(reversed=row.reversed + wanted)
        )
        await frame.connection.execute(
            insert(reversals).values(
                id=new_id("reversal"),
                customer_id=frame.books.customer_id,
                consumption_id=consumption_id,
                key=key,
                fingerprint=print_,
                amount=wanted,
                reason=reason,
                transaction_id=transaction_id,
                created_at=frame.now,
            )
        )
        reversed_row = dict(row._mapping) | {"reversed": row.reversed + wanted}
        change = Change(EventType.CREDIT_CONSUMPTION_REVERSED, consumption_id, reversed_row, drawn)
        frame.books.note(change)
        return ReversalOutcome(consumption_id, booked, await frame.balance(row.currency), False)


async def _restore(
    frame: Frame, consumption_id: str, amount: int, reason: str | None
) -> tuple[list[str], tuple[dict[str, Any], ...]]:
    """Give credits back to the grants drawn, in reverse burn order; forfeit where due.
    The ids of the entries booked, and the rows of the consumption's CONSUMED entries."""
    statement = (
        select(entries)
        .where(entries.c.consumption_id == consumption_id)
        .order_by(entries.c.sequence)
    )
    rows = (await frame.connection.execute(statement)).all()
    drawn: dict[str, int] = defaultdict(int)
    order: list[str] = []
    for row in rows:
        if row.type == EntryType.CONSUMED:
            order.append(row.grant_id)
        drawn[row.grant_id] -= row.amount  # CONSUMED is negative, RESTORED positive
    feature_key = rows[0].feature_key if rows else None
    booked: list[str] = []
    left = amount
    for grant_id in reversed(order):
        take = min(left, drawn[grant_id])
        if take <= 0:
            continue
        left -= take
        grant = await frame.books.grant(grant_id)
        assert grant is not None
        details = {
            "consumption_id": consumption_id,
            "feature_key": feature_key,
            "description": reason,
        }
        entry = await frame.books.book(
            grant, EntryType.RESTORED, grant.restore(take), frame.booking, **details
        )
        booked.append(entry.id)
        forfeited = grant.forfeit_restored(take, frame.now)
        if forfeited is not None:
            kind = EntryType.VOIDED if forfeited is GrantStatus.VOIDED else EntryType.EXPIRED
            entry = await frame.books.book(grant, kind, -take, frame.booking)
            booked.append(entry.id)
        if left == 0:
            break
    drawn_rows = tuple(dict(row._mapping) for row in rows if row.type == EntryType.CONSUMED)
    return booked, drawn_rows


async def _replay(frame: Frame, key: str, print_: str) -> list[str] | None:
    row = await keyed_row(frame, reversals, key, print_)
    if row is None:
        return None
    ids = (
        select(entries.c.id)
        .where(entries.c.transaction_id == row.transaction_id)
        .order_by(entries.c.sequence)
    )
    return list((await frame.connection.execute(ids)).scalars())
