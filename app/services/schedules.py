"""Grant schedules: create one, cancel one (docs/schedules.md).

A schedule's occurrences are due events like a grant's funding and expiry: the books of
its customer book them (`Books.catch_up`), whoever opens them first (the scheduler, or a
request about that customer). A creation books the occurrences already due at once, in
its own transaction, each a transaction of its own with actor SYSTEM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, insert, select

from app.domain.errors import Issue, Issues, NotFound, ValidationFailed
from app.domain.ids import new_id
from app.domain.ledger import Actor
from app.domain.money import to_minor
from app.domain.schedules import MAX_ACTIVE, MAX_AT_ONCE, Schedule, period_problems
from app.domain.time import Duration, as_utc
from app.domain.validation import check_aware
from app.services.common import (
    Frame,
    Owned,
    check_id,
    customer_transaction,
    fingerprint,
    keyed_row,
    label_set,
    labels_column,
)
from app.services.grants import check_grant_terms, check_headroom
from app.services.runtime import Runtime
from app.storage.schedules import schedule_creation
from app.storage.tables import schedules

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ScheduleRequest:
    customer_id: str
    name: str
    currency: str
    amount: Decimal
    every: Duration
    key: str | None = None
    description: str | None = None
    labels: Labels | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    expires_after: Duration | None = None
    priority: int = 10
    features: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScheduleOutcome:
    schedule_id: str
    replayed: bool


async def create_credit_grant_schedule(
    runtime: Runtime, *, actor: Actor, request: ScheduleRequest
) -> ScheduleOutcome:
    amount = await _validate(runtime, request, runtime.clock.now())
    print_ = _fingerprint(request)
    async with customer_transaction(
        runtime, request.customer_id, actor, new_id("transaction")
    ) as frame:
        if request.key is not None:
            found = await keyed_row(frame, schedules, request.key, print_)
            if found is not None:
                return ScheduleOutcome(str(found.id), True)
        await _check_active(frame)
        schedule = _schedule(request, amount, frame.now)
        due = schedule.start()
        if due > MAX_AT_ONCE:
            message = f"would book more than {MAX_AT_ONCE} grants at once: start later"
            raise ValidationFailed([Issue(("input", "startsAt"), message)])
        if due:  # the grants booked at once, as one grant of their sum
            await check_headroom(frame, schedule.currency, amount * due)
        details = {
            "key": request.key,
            "fingerprint": print_,
            "name": request.name,
            "description": request.description,
            "labels": labels_column(request.labels),
        }
        values = schedule_creation(schedule) | details
        await frame.connection.execute(insert(schedules).values(values))
        await frame.books.catch_up()  # the occurrences due already
        return ScheduleOutcome(schedule.id, False)


async def cancel_credit_grant_schedule(
    runtime: Runtime, *, actor: Actor, schedule_id: str
) -> ScheduleOutcome:
    """Occurrences due by now are booked first (the transaction frame's catch-up); none
    after. Its grants stay as they are."""
    issues = Issues()
    check_id(issues, ("input", "scheduleId"), schedule_id)
    issues.raise_any()
    owned = Owned(schedules, "schedule", schedule_id, "Credit grant schedule")
    async with customer_transaction(runtime, owned, actor, new_id("transaction")) as frame:
        schedule = await frame.books.schedule(schedule_id)
        if schedule is None:
            raise NotFound("Credit grant schedule", schedule_id)
        return ScheduleOutcome(schedule_id, not schedule.cancel(frame.now))


async def _validate(runtime: Runtime, request: ScheduleRequest, now: datetime) -> int:
    """Every issue of the request at once; the amount in the smallest unit."""
    issues = Issues()
    currency = await check_grant_terms(runtime, issues, request)
    _check_times(issues, request, now)
    issues.raise_any()
    assert currency is not None
    return to_minor(request.amount, currency.scale)


def _check_times(issues: Issues, request: ScheduleRequest, now: datetime) -> None:
    aware = check_aware(issues, ("input", "startsAt"), request.starts_at)
    aware = check_aware(issues, ("input", "endsAt"), request.ends_at) and aware
    if not aware:
        return
    starts_at = _utc(request.starts_at) or now
    if request.ends_at is not None and request.ends_at <= starts_at:
        issues.add(("input", "endsAt"), "must be after startsAt")
    expires_after = request.expires_after or request.every
    every, expiry = period_problems(starts_at, request.every, expires_after)
    if every:
        issues.add(("input", "every"), every)
    if expiry:
        issues.add(("input", "expiresAfter" if request.expires_after else "every"), expiry)


async def _check_active(frame: Frame) -> None:
    """At most MAX_ACTIVE active schedules per customer: those with an occurrence left."""
    statement = select(func.count()).where(
        schedules.c.customer_id == frame.books.customer_id,
        schedules.c.next_event_at.is_not(None),
    )
    if (await frame.connection.execute(statement)).scalar_one() >= MAX_ACTIVE:
        message = f"the customer has {MAX_ACTIVE} active schedules already: cancel one first"
        raise ValidationFailed([Issue(("input", "customerId"), message)])


def _schedule(request: ScheduleRequest, amount: int, now: datetime) -> Schedule:
    return Schedule(
        id=new_id("schedule"),
        customer_id=request.customer_id,
        currency=request.currency,
        amount=amount,
        every=request.every,
        starts_at=_utc(request.starts_at) or now,
        ends_at=_utc(request.ends_at),
        expires_after=request.expires_after or request.every,
        priority=request.priority,
        features=tuple(sorted(set(request.features or ()))),
        created_at=now,
    )


def _utc(instant: datetime | None) -> datetime | None:
    """Occurrences are counted in UTC: a start given with an offset is the same instant."""
    return None if instant is None else as_utc(instant)


def _fingerprint(request: ScheduleRequest) -> str:
    """The input as values: an omitted startsAt stays omitted (not the retry's now)."""
    return fingerprint(
        "schedule",
        {
            "name": request.name,
            "description": request.description,
            "labels": label_set(request.labels),
            "currency": request.currency,
            "amount": request.amount,
            "every": request.every,
            "startsAt": request.starts_at,
            "endsAt": request.ends_at,
            "expiresAfter": request.expires_after or request.every,
            "priority": request.priority,
            "features": sorted(set(request.features or ())),
        },
    )
