"""Viewer, roles and portal tokens in the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.api.context import Context
from app.api.customers import Customer
from app.api.errors import ForbiddenError, NotFoundError, ValidationError, to_graphql
from app.api.scalars import Duration
from app.domain.errors import DomainError
from app.services.portal import create_portal_token


@strawberry.enum(
    description="ADMIN: everything, including custom currencies. WRITER: queries, "
    "subscriptions, and every mutation but createCustomCurrency. READER: queries and "
    "subscriptions only."
)
class ApiKeyRole(Enum):
    """ADMIN: everything, including custom currencies. WRITER: queries, subscriptions, and
    every mutation but createCustomCurrency. READER: queries and subscriptions only."""

    ADMIN = strawberry.enum_value(
        "ADMIN", description="Everything, including createCustomCurrency."
    )
    WRITER = strawberry.enum_value(
        "WRITER",
        description="Queries, subscriptions and every mutation but createCustomCurrency.",
    )
    READER = strawberry.enum_value("READER", description="Queries and subscriptions only.")


@strawberry.enum(
    description="How the request is authenticated: an API key, a portal token, or OPEN "
    "mode (no credentials needed: loopback only, while no API key exists)."
)
class ViewerKind(Enum):
    """OPEN: no credentials are needed (development mode on loopback, no API key yet)."""

    API_KEY = strawberry.enum_value("API_KEY", description="An API key, with its role.")
    PORTAL_TOKEN = strawberry.enum_value(
        "PORTAL_TOKEN",
        description="A portal token: read-only, expiring, limited to one customer.",
    )
    OPEN = strawberry.enum_value(
        "OPEN",
        description="No credentials: OPEN mode, on loopback while no API key exists; "
        "acts as ADMIN.",
    )


@strawberry.type(description="Who the request is made as.")
class Viewer:
    kind: ViewerKind = strawberry.field(description="How the request is authenticated.")
    role: ApiKeyRole | None = strawberry.field(
        description="The role of an API key; ADMIN in OPEN mode; absent for a portal token."
    )
    name: str = strawberry.field(
        description="The API key's name; `portal` for a portal token; `open` in OPEN mode."
    )
    customer_id: strawberry.Private[str | None]

    @strawberry.field(description="The one customer a portal token may read.")
    async def customer(self, info: Info[Context, None]) -> Customer | None:
        if self.customer_id is None:
            return None
        return await info.context.loaders.maybe_customer(self.customer_id)


def viewer_of(info: Info[Context, None]) -> Viewer:
    viewer = info.context.viewer
    assert viewer is not None
    return Viewer(
        kind=ViewerKind(viewer.kind.value),
        role=ApiKeyRole(viewer.role.value) if viewer.role else None,
        name=viewer.name,
        customer_id=viewer.customer_id,
    )


@strawberry.input(description="The customer a portal token is for, and how long it lasts.")
class CreatePortalTokenInput:
    customer_id: strawberry.ID = strawberry.field(
        description="The one customer the token may read."
    )
    expires_in: Duration | None = strawberry.field(
        default=timedelta(hours=1), description="How long the token is valid; at most P30D."
    )


@strawberry.type(description="A portal token made for one customer, and until when it is valid.")
class CreatePortalTokenSuccess:
    token: str = strawberry.field(
        description="A read-only bearer token for one customer's credits, "
        "for a customer-facing dashboard."
    )
    expires_at: datetime = strawberry.field(description="After this instant it is refused.")
    customer: Customer = strawberry.field(description="The customer the token may read.")


CreatePortalTokenResult = Annotated[
    CreatePortalTokenSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "CreatePortalTokenResult",
        description="The token made, or why none was: an invalid input, an unknown customer, "
        "or a role that may not make tokens.",
    ),
]


async def portal_token(info: Info[Context, None], input: CreatePortalTokenInput) -> object:
    context = info.context
    try:
        token, expires_at = await create_portal_token(
            context.runtime,
            signing_keys=context.request.app.state.authenticator.signing_keys,
            customer_id=input.customer_id,
            expires_in=timedelta(hours=1) if input.expires_in is None else input.expires_in,
        )
    except DomainError as error:
        return to_graphql(error)
    customer = await context.loaders.customer(input.customer_id)
    return CreatePortalTokenSuccess(token=token, expires_at=expires_at, customer=customer)
