"""CreditGrantSchedule (recurring allowances, docs/schedules.md), its inputs and results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types import Info

from app.api.common import LABELS, Label, LabelInput, Node, schema_enum, stored_labels
from app.api.context import Context
from app.api.errors import ForbiddenError, KeyConflictError, NotFoundError, ValidationError
from app.api.grants import CreditGrantConnection
from app.api.pagination import After, Before, Connection, First, Last
from app.api.scalars import Duration
from app.domain.money import from_minor
from app.domain.schedules import ScheduleStatus
from app.domain.time import parse_duration

if TYPE_CHECKING:
    from app.api.customers import Customer

schema_enum(
    ScheduleStatus,
    "CreditGrantScheduleStatus",
    "Whether a schedule will book more grants.",
    ACTIVE="It books a grant at each occurrence still to come.",
    ENDED="Past endsAt: every occurrence is booked.",
    CANCELED="Canceled: no further occurrence; the grants it booked stay.",
)
CreditGrantScheduleStatus = ScheduleStatus


def _status(row: Any) -> ScheduleStatus:
    if row.canceled_at is not None:
        return ScheduleStatus.CANCELED
    return ScheduleStatus.ENDED if row.next_event_at is None else ScheduleStatus.ACTIVE


@strawberry.type(
    description="A recurring allowance: a promotional grant of `amount` at each occurrence "
    "startsAt + n * every, while it is before endsAt."
)
class CreditGrantSchedule(Node):
    id: strawberry.ID = strawberry.field(description="The schedule's id (`sch_…`).")
    customer_id: strawberry.Private[str]
    key: str | None = strawberry.field(description="The caller's unique reference, if given.")
    name: str = strawberry.field(description="Its name, given to each grant it books.")
    description: str | None = strawberry.field(description="Free text, given to each grant.")
    raw_labels: strawberry.Private[Any]
    labels: list[Label] = strawberry.field(resolver=stored_labels, description=LABELS)
    currency: str = strawberry.field(description="The currency or custom unit of its grants.")
    amount: Decimal = strawberry.field(description="Credits granted at each occurrence.")
    every: Duration = strawberry.field(
        description="The period: each occurrence is startsAt + n * every (calendar arithmetic)."
    )
    starts_at: datetime = strawberry.field(description="The first occurrence.")
    ends_at: datetime | None = strawberry.field(
        description="Occurrences are before this instant; null: no end."
    )
    expires_after: Duration = strawberry.field(
        description="How long each occurrence's grant stays available; longer than `every` "
        "carries unused credits over."
    )
    priority: int = strawberry.field(description="Each grant's priority (1 to 1000).")
    features: list[str] = strawberry.field(
        description="The features each grant's credits can pay for; empty for any."
    )
    status: ScheduleStatus = strawberry.field(description="As of the request.")
    next_grant_at: datetime | None = strawberry.field(
        description="The next occurrence not booked yet; null when none is left."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    canceled_at: datetime | None = strawberry.field(description="When it was canceled.")

    @strawberry.field(description="Who receives the grants.")
    def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return cast("Customer", info.context.loaders.customer_soon(self.customer_id))

    @strawberry.field(description="The grants the schedule booked, newest first.")
    async def grants(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> CreditGrantConnection:
        loaders = info.context.loaders
        return await loaders.schedule_grants(self.id, self.customer_id, first, after, last, before)

    @classmethod
    def from_row(cls, row: Any, scale: int) -> CreditGrantSchedule:
        return cls(
            id=strawberry.ID(row.id),
            customer_id=row.customer_id,
            key=row.key,
            name=row.name,
            description=row.description,
            raw_labels=row.labels,
            currency=row.currency,
            amount=from_minor(row.amount, scale),
            every=Duration(parse_duration(row.every)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            expires_after=Duration(parse_duration(row.expires_after)),
            priority=row.priority,
            features=list(row.features),
            status=_status(row),
            next_grant_at=row.next_event_at,
            created_at=row.created_at,
            canceled_at=row.canceled_at,
        )


CreditGrantScheduleConnection = Connection[CreditGrantSchedule]


@strawberry.input(description="A recurring allowance for one customer.")
class CreateCreditGrantScheduleInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer who receives it.")
    key: str | None = strawberry.field(
        default=None,
        description="Unique per customer among schedules. The same key and input again "
        "answers with the first result; with a different input it is a KeyConflictError.",
    )
    name: str = strawberry.field(description="1 to 256 characters; each grant's name.")
    description: str | None = strawberry.field(default=None, description="Free text, for people.")
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="For your own use; given to each grant."
    )
    currency: str = strawberry.field(description="The credits' currency or custom unit code.")
    amount: Decimal = strawberry.field(description="Credits granted at each occurrence.")
    every: Duration = strawberry.field(
        description="The period, from P1D to P1Y (P1M: calendar months, from the start)."
    )
    starts_at: datetime | None = strawberry.field(
        default=None,
        description="Defaults to now. May be in the past: missed occurrences are booked at "
        "once, each at its own instant.",
    )
    ends_at: datetime | None = strawberry.field(
        default=None, description="Occurrences must be before it; after startsAt."
    )
    expires_after: Duration | None = strawberry.field(
        default=None, description="Defaults to `every`; at least `every`."
    )
    priority: int | None = strawberry.field(
        default=10, description="1 to 1000 (default 10). Lower numbers are consumed first."
    )
    features: list[str] | None = strawberry.field(
        default=None, description="Features the credits may pay for; none: any feature."
    )


@strawberry.input(description="Which schedule to cancel.")
class CancelCreditGrantScheduleInput:
    schedule_id: strawberry.ID = strawberry.field(description="The schedule to cancel.")


@strawberry.type(description="The schedule created, canceled, or found again.")
class CreditGrantScheduleSuccess:
    schedule: CreditGrantSchedule = strawberry.field(description="The schedule as it is now.")
    replayed: bool = strawberry.field(
        description="True when this answer is a replay: the same key and input, or a "
        "schedule canceled already; nothing was written."
    )


CreateCreditGrantScheduleResult = Annotated[
    CreditGrantScheduleSuccess
    | ValidationError
    | NotFoundError
    | KeyConflictError
    | ForbiddenError,
    strawberry.union(
        "CreateCreditGrantScheduleResult",
        description="createCreditGrantSchedule's answer: the schedule, or why none was made.",
    ),
]
CancelCreditGrantScheduleResult = Annotated[
    CreditGrantScheduleSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "CancelCreditGrantScheduleResult",
        description="cancelCreditGrantSchedule's answer: the schedule canceled, or why not.",
    ),
]
