"""Mutations on grant schedules: create a recurring allowance, cancel one."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from app.api.common import label_pairs
from app.api.context import Context
from app.api.mutations.support import answer, forbidden
from app.api.schedules import (
    CancelCreditGrantScheduleInput,
    CancelCreditGrantScheduleResult,
    CreateCreditGrantScheduleInput,
    CreateCreditGrantScheduleResult,
    CreditGrantScheduleSuccess,
)
from app.services import schedules


@strawberry.mutation(
    description=(
        "Give a customer a recurring allowance: a promotional grant of `amount` at each "
        "occurrence startsAt + n * every (calendar arithmetic: monthly from Jan 31 gives "
        "Feb 28 or 29, then Mar 31), effective at its occurrence and expiring `expiresAfter` "
        "later (longer than `every` carries unused credits over). Occurrences already "
        "due, from a startsAt in the past, are booked at once. At most 20 active "
        "schedules per customer."
    )
)
async def create_credit_grant_schedule(
    info: Info[Context, None],
    input: Annotated[
        CreateCreditGrantScheduleInput, strawberry.argument(description="The schedule to create.")
    ],
) -> CreateCreditGrantScheduleResult:
    if refused := forbidden(info, "createCreditGrantSchedule"):
        return refused
    request = schedules.ScheduleRequest(
        customer_id=input.customer_id,
        key=input.key,
        name=input.name,
        description=input.description,
        labels=label_pairs(input.labels),
        currency=input.currency,
        amount=input.amount,
        every=input.every,
        starts_at=input.starts_at,
        ends_at=input.ends_at,
        expires_after=input.expires_after,
        priority=10 if input.priority is None else input.priority,
        features=None if input.features is None else tuple(input.features),
    )
    call = schedules.create_credit_grant_schedule(
        info.context.runtime, actor=info.context.actor, request=request
    )
    return await answer(info, call, _success(info))  # type: ignore[no-any-return]


@strawberry.mutation(
    description=(
        "Stop a schedule's future occurrences (status CANCELED). Occurrences due by now "
        "are booked first; the grants it booked stay. Canceling again is a replay."
    )
)
async def cancel_credit_grant_schedule(
    info: Info[Context, None],
    input: Annotated[
        CancelCreditGrantScheduleInput, strawberry.argument(description="The schedule to cancel.")
    ],
) -> CancelCreditGrantScheduleResult:
    if refused := forbidden(info, "cancelCreditGrantSchedule"):
        return refused
    call = schedules.cancel_credit_grant_schedule(
        info.context.runtime, actor=info.context.actor, schedule_id=input.schedule_id
    )
    return await answer(info, call, _success(info))  # type: ignore[no-any-return]


def _success(info: Info[Context, None]):  # type: ignore[no-untyped-def]
    async def success(outcome: schedules.ScheduleOutcome) -> CreditGrantScheduleSuccess:
        schedule = await info.context.loaders.schedule(outcome.schedule_id)
        assert schedule is not None
        return CreditGrantScheduleSuccess(schedule=schedule, replayed=outcome.replayed)

    return success
