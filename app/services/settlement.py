"""Settling a purchase's payment, and voiding a grant (docs/concepts.md, settlement and void)."""

from __future__ import annotations

from datetime import datetime

from app.domain.errors import InvalidState, Issue, Issues, NotFound, ValidationFailed
from app.domain.events import Change
from app.domain.grants import NO_PAYMENT, PAYMENT_FAILED, Grant, GrantStatus, SettlementStatus
from app.domain.ids import new_id
from app.domain.ledger import Actor, EntryType
from app.domain.validation import check_aware, check_text
from app.domain.webhooks import EventType
from app.services.common import Frame, Owned, check_id, customer_transaction
from app.services.grants import GrantOutcome
from app.services.runtime import Runtime
from app.storage.tables import grants


async def settle_credit_purchase(
    runtime: Runtime,
    *,
    actor: Actor,
    grant_id: str,
    status: SettlementStatus,
    payment_reference: str | None = None,
    occurred_at: datetime | None = None,
) -> GrantOutcome:
    if status is SettlementStatus.PENDING:
        raise ValidationFailed(
            [Issue(("input", "status"), "must be AUTHORIZED, SETTLED or FAILED")]
        )
    now = runtime.clock.now()
    issues = Issues()
    check_id(issues, ("input", "grantId"), grant_id)
    check_text(issues, ("input", "paymentReference"), payment_reference, low=1, high=256)
    if (
        check_aware(issues, ("input", "occurredAt"), occurred_at)
        and occurred_at
        and occurred_at > now
    ):
        issues.add(("input", "occurredAt"), "must not be in the future")
    issues.raise_any()
    owned = Owned(grants, "grant", grant_id, "Credit grant")
    async with customer_transaction(runtime, owned, actor, new_id("transaction")) as frame:
        grant = await _grant(frame, grant_id)
        if grant.purchase is None:
            raise InvalidState(NO_PAYMENT, "A promotional grant has no payment to settle")
        moved = grant.purchase.move(status, occurred_at or frame.now)
        if moved:
            if payment_reference is not None:
                grant.purchase.payment_reference = payment_reference
            frame.books.touch(grant)
            frame.books.note(Change(EventType.CREDIT_GRANT_SETTLEMENT_CHANGED, grant.id))
            if status is SettlementStatus.FAILED:
                await _void_unless_finished(frame, grant, PAYMENT_FAILED)
            else:
                grant.become_fundable(frame.now)
                await frame.books.fund_if_due(grant, frame.booking)
        return GrantOutcome(grant.id, await frame.balance(grant.currency), not moved)


async def void_credit_grant(
    runtime: Runtime, *, actor: Actor, grant_id: str, reason: str | None = None
) -> GrantOutcome:
    issues = Issues()
    check_id(issues, ("input", "grantId"), grant_id)
    check_text(issues, ("input", "reason"), reason, low=0, high=1024, lines=True)
    issues.raise_any()
    owned = Owned(grants, "grant", grant_id, "Credit grant")
    async with customer_transaction(runtime, owned, actor, new_id("transaction")) as frame:
        grant = await _grant(frame, grant_id)
        voiding = grant.check_voidable(frame.now)
        if voiding:
            await void(frame, grant, reason)
        return GrantOutcome(grant.id, await frame.balance(grant.currency), not voiding)


async def void(frame: Frame, grant: Grant, reason: str | None) -> None:
    """Forfeit what remains from now on; a grant never funded simply stops being pending."""
    frame.books.touch(grant)
    frame.books.note(Change(EventType.CREDIT_GRANT_VOIDED, grant.id))
    taken = grant.void(frame.now, reason)
    if taken:
        await frame.books.book(grant, EntryType.VOIDED, taken, frame.booking, description=reason)


async def _void_unless_finished(frame: Frame, grant: Grant, reason: str) -> None:
    if grant.status(frame.now) in (GrantStatus.PENDING, GrantStatus.ACTIVE):
        await void(frame, grant, reason)


async def _grant(frame: Frame, grant_id: str) -> Grant:
    grant = await frame.books.grant(grant_id)
    if grant is None:
        raise NotFound("Credit grant", grant_id)
    return grant
