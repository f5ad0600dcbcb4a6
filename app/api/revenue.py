"""`creditRevenue` (docs/revenue.md): revenue of paid credits by day, ISO week or month.

For ADMIN and READER API keys (and OPEN mode, which acts as ADMIN); a WRITER key or a
portal token gets a FORBIDDEN error and no data. A bad argument is BAD_USER_INPUT with
`extensions.issues`, each naming its argument as `field`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.api.common import schema_enum
from app.api.context import Context
from app.domain.access import Role, ViewerKind
from app.domain.errors import ValidationFailed
from app.domain.revenue import RevenueInterval
from app.services.revenue import RevenuePeriod, RevenueReport, credit_revenue

READERS = (Role.ADMIN, Role.READER)

schema_enum(
    RevenueInterval,
    "RevenueInterval",
    "Periods of a revenue report: UTC calendar days, ISO weeks (from Monday, UTC) or "
    "calendar months (UTC).",
    DAY="A calendar day, from midnight UTC.",
    WEEK="An ISO week, from Monday midnight UTC.",
    MONTH="A calendar month, from its first day at midnight UTC.",
)


@strawberry.type(description="One period's revenue of paid credits, in the purchase currency.")
class CreditRevenuePeriod:
    from_: datetime = strawberry.field(
        name="from", description="Inclusive start and exclusive end of the period."
    )
    to: datetime = strawberry.field(description="The period's end (exclusive).")
    recognized: Decimal = strawberry.field(
        description="Paid credits consumed in the period (net of reversals), valued at "
        "their grants' cost basis."
    )
    breakage: Decimal = strawberry.field(
        description="Paid credits expired or voided in the period, valued at their grants' "
        "cost basis."
    )
    deferred_at_end: Decimal = strawberry.field(
        description="Paid credits funded and still remaining at the period's end, valued at "
        "their grants' cost basis."
    )

    @classmethod
    def from_domain(cls, period: RevenuePeriod) -> CreditRevenuePeriod:
        return cls(
            from_=period.starts,
            to=period.ends,
            recognized=period.recognized,
            breakage=period.breakage,
            deferred_at_end=period.deferred_at_end,
        )


@strawberry.type(description="Revenue of paid credits over every customer, period by period.")
class CreditRevenueReport:
    currency: str = strawberry.field(description="The purchase currency the values are in.")
    periods: list[CreditRevenuePeriod] = strawberry.field(
        description="Every period of the interval, in order."
    )

    @classmethod
    def from_domain(cls, report: RevenueReport) -> CreditRevenueReport:
        periods = [CreditRevenuePeriod.from_domain(p) for p in report.periods]
        return cls(currency=report.currency, periods=periods)


async def revenue(
    info: Info[Context, None],
    currency: Annotated[
        str,
        strawberry.argument(description="The ISO 4217 currency the purchases were paid in."),
    ],
    from_: Annotated[
        datetime,
        strawberry.argument(name="from", description="Start of the first period (inclusive)."),
    ],
    to: Annotated[
        datetime,
        strawberry.argument(
            description="End of the last period (exclusive); not after now: a report "
            "covers the past only."
        ),
    ],
    interval: Annotated[
        RevenueInterval, strawberry.argument(description="How long each period is.")
    ],
) -> CreditRevenueReport:
    context = info.context
    viewer = context.viewer
    if viewer is None or viewer.kind is ViewerKind.PORTAL_TOKEN or viewer.role not in READERS:
        raise GraphQLError(
            "creditRevenue is for ADMIN and READER API keys", extensions={"code": "FORBIDDEN"}
        )
    try:
        report = await credit_revenue(
            context.runtime, currency=currency, starts=from_, ends=to, interval=interval
        )
    except ValidationFailed as error:
        issues = [{"field": list(i.field), "message": i.message} for i in error.issues]
        extensions = {"code": "BAD_USER_INPUT", "issues": issues}
        raise GraphQLError(error.message, extensions=extensions) from None
    return CreditRevenueReport.from_domain(report)
