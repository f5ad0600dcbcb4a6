"""`previewCreditConsumption`: what consumeCredits would draw now, writing nothing
(docs/preview.md).

Every role that may read the customer may ask; a portal token only about its own customer
(any other answers NOT_FOUND, as an unknown customer does). A bad argument is
BAD_USER_INPUT with `extensions.issues`, each naming its argument as `field`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.api.context import Context
from app.api.mutation_inputs import InsufficientCreditsBehavior
from app.domain.errors import NotFound, ValidationFailed
from app.domain.money import from_minor
from app.services import consumption
from app.services.consumption import Preview, PreviewRequest, preview_consumption

if TYPE_CHECKING:
    from app.api.grants import CreditGrant


@strawberry.type(description="One grant a consumption would draw from.")
class CreditConsumptionPreviewEntry:
    grant: Annotated[CreditGrant, strawberry.lazy("app.api.grants")] = strawberry.field(
        description="The grant that would be drawn from."
    )
    amount: Decimal = strawberry.field(description="Positive: what would be drawn from this grant.")


@strawberry.type(description="What consumeCredits with the same arguments would do now.")
class CreditConsumptionPreview:
    consumed: Decimal = strawberry.field(
        description="What consumeCredits with the same arguments would consume now "
        "(0 under REJECT with a shortfall)."
    )
    shortfall: Decimal = strawberry.field(
        description="What the eligible credits lack for the amount, under either behavior: "
        "above 0 under REJECT, consumeCredits would answer InsufficientCreditsError."
    )
    entries: list[CreditConsumptionPreviewEntry] = strawberry.field(
        description="The grants that would be drawn, in burn order."
    )
    available_before: Decimal = strawberry.field(
        description="The available balance with the same featureKey, now."
    )
    available_after: Decimal = strawberry.field(
        description="The available balance with the same featureKey after the consumption."
    )


async def preview(
    info: Info[Context, None],
    customer_id: Annotated[
        strawberry.ID, strawberry.argument(description="The customer whose credits would be used.")
    ],
    currency: Annotated[
        str, strawberry.argument(description="The currency or custom unit code to draw.")
    ],
    amount: Annotated[
        Decimal, strawberry.argument(description="Above zero, at the currency's scale.")
    ],
    feature_key: Annotated[
        str | None,
        strawberry.argument(
            description="The feature being paid for; only grants unrestricted or listing it "
            "would be drawn."
        ),
    ] = None,
    on_insufficient: Annotated[
        InsufficientCreditsBehavior | None,
        strawberry.argument(description="What to do when the eligible credits fall short."),
    ] = InsufficientCreditsBehavior.REJECT,
) -> CreditConsumptionPreview:
    context = info.context
    behavior = on_insufficient or InsufficientCreditsBehavior.REJECT
    request = PreviewRequest(
        customer_id=customer_id,
        currency=currency,
        amount=amount,
        feature_key=feature_key,
        on_insufficient=consumption.InsufficientCreditsBehavior(behavior.name),
    )
    scope = context.viewer.customer_id if context.viewer else None
    try:
        found = await preview_consumption(context.runtime, request, scope=scope)
    except ValidationFailed as error:
        issues = [{"field": list(i.field), "message": i.message} for i in error.issues]
        extensions = {"code": "BAD_USER_INPUT", "issues": issues}
        raise GraphQLError(error.message, extensions=extensions) from None
    except NotFound as error:
        raise GraphQLError(error.message, extensions={"code": "NOT_FOUND"}) from None
    return await _answer(info, found)


async def _answer(info: Info[Context, None], found: Preview) -> CreditConsumptionPreview:
    plan, scale = found.plan, found.scale
    loaders = info.context.loaders
    grants = await asyncio.gather(*(loaders.grant(grant.id) for grant, _ in plan.draws))
    entries = [
        CreditConsumptionPreviewEntry(grant=grant, amount=from_minor(take, scale))
        for grant, (_, take) in zip(grants, plan.draws, strict=True)
    ]
    return CreditConsumptionPreview(
        consumed=from_minor(plan.consumed, scale),
        shortfall=from_minor(plan.shortfall, scale),
        entries=entries,
        available_before=from_minor(found.available_before, scale),
        available_after=from_minor(found.available_after, scale),
    )
