"""Webhook endpoints, their deliveries and attempts; ADMIN only (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.api.common import Node, schema_enum
from app.api.context import Context
from app.api.errors import bad_input
from app.api.pagination import After, Before, First, Last, PageInfo, decode_cursor, encode_cursor
from app.domain.access import Role
from app.domain.ids import kind_of
from app.domain.webhooks import DeliveryStatus, EventType
from app.storage.engine import read_connection
from app.storage.queries import webhooks as queries

if TYPE_CHECKING:
    from app.api.customers import Customer

schema_enum(
    EventType,
    "WebhookEventType",
    "What a webhook event reports.",
    CREDIT_GRANT_CREATED="A grant was created (data: the grant).",
    CREDIT_GRANT_FUNDED="A grant's credits became available (data: the grant).",
    CREDIT_GRANT_SETTLEMENT_CHANGED="A purchase's settlement status changed (data: the grant).",
    CREDIT_GRANT_EXPIRED="A grant expired (data: the grant).",
    CREDIT_GRANT_VOIDED="A grant was voided (data: the grant).",
    CREDIT_CONSUMPTION_CREATED="Credits were consumed (data: the consumption, with its entries).",
    CREDIT_CONSUMPTION_REVERSED="A consumption was reversed, in part or in full "
    "(data: the consumption, with its entries).",
    CREDIT_THRESHOLD_CROSSED="A threshold's watched balance dropped under `below` "
    "(data: the threshold event).",
    CREDIT_THRESHOLD_RECOVERED="A threshold's watched balance came back to `below` "
    "(data: the threshold event).",
)
schema_enum(
    DeliveryStatus,
    "WebhookDeliveryStatus",
    "PENDING until an attempt succeeds (SUCCEEDED) or the last retry fails (FAILED).",
    PENDING="Not delivered yet: an attempt is due at nextAttemptAt.",
    SUCCEEDED="An attempt got a 2xx answer in time.",
    FAILED="Every attempt failed; no more are made unless it is redelivered.",
)
WebhookEventType = EventType
WebhookDeliveryStatus = DeliveryStatus


def refuse_unless_admin(info: Info[Context, None], field: str) -> None:
    viewer = info.context.viewer
    if viewer is None or viewer.role is not Role.ADMIN:
        raise GraphQLError(f"{field} is for ADMIN API keys", extensions={"code": "FORBIDDEN"})


@strawberry.type(description="One POST of a delivery and what came back.")
class WebhookAttempt:
    at: datetime = strawberry.field(description="When the attempt was made.")
    response_status: int | None = strawberry.field(
        description="The HTTP status; null when no answer came (timeout, refused connection)."
    )
    duration_ms: int = strawberry.field(description="How long the attempt took.")
    response_body: str | None = strawberry.field(
        description="The first 1 KiB of the answer's body."
    )
    error: str | None = strawberry.field(description="Why no answer came, or why it was not sent.")

    @classmethod
    def from_row(cls, row: Any) -> WebhookAttempt:
        return cls(
            at=row.at,
            response_status=row.response_status,
            duration_ms=row.duration_ms,
            response_body=row.response_body,
            error=row.error,
        )


@strawberry.type(description="A committed change, as posted to endpoints.")
class WebhookEvent:
    id: strawberry.ID = strawberry.field(description="The event id: the `webhook-id` header.")
    type: EventType = strawberry.field(description="What the event reports.")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    customer_id: strawberry.Private[str]
    payload: str = strawberry.field(description="The JSON body that is posted, as a string.")

    @strawberry.field(description="Whose change it is.")
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return await info.context.loaders.customer(self.customer_id)


@strawberry.type(description="One event on its way to one endpoint.")
class WebhookDelivery(Node):
    id: strawberry.ID = strawberry.field(description="The delivery's id (`whd_…`).")
    endpoint: WebhookEndpoint = strawberry.field(description="Where it is posted.")
    event: WebhookEvent = strawberry.field(description="What is posted.")
    status: DeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: list[WebhookAttempt] = strawberry.field(description="Its attempts, oldest first.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due; null once SUCCEEDED or FAILED."
    )

    @classmethod
    def from_row(cls, row: Any, endpoint: WebhookEndpoint, attempts: list[Any]) -> WebhookDelivery:
        event = WebhookEvent(
            id=strawberry.ID(row.event_id),
            type=EventType(row.event_type),
            occurred_at=row.occurred_at,
            customer_id=row.customer_id,
            payload=row.payload,
        )
        return cls(
            id=strawberry.ID(row.id),
            endpoint=endpoint,
            event=event,
            status=DeliveryStatus(row.status),
            attempts=[WebhookAttempt.from_row(a) for a in attempts],
            next_attempt_at=row.next_attempt_at if row.status == DeliveryStatus.PENDING else None,
        )


@strawberry.type(description="One delivery of a page, and its cursor.")
class WebhookDeliveryEdge:
    cursor: str = strawberry.field(description="Where this delivery stands in its list.")
    node: WebhookDelivery = strawberry.field(description="The delivery.")


@strawberry.type(description="One page of an endpoint's deliveries, newest first.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge] = strawberry.field(description="The page's deliveries.")
    page_info: PageInfo = strawberry.field(description="Where the page lies in its list.")
    total_count: int = strawberry.field(description="How many deliveries the list holds.")


@strawberry.type(description="Where events are posted, signed with its secret.")
class WebhookEndpoint(Node):
    id: strawberry.ID = strawberry.field(description="The endpoint's id (`whe_…`).")
    url: str = strawberry.field(description="Where events are posted.")
    description: str | None = strawberry.field(description="Free text, for people.")
    event_types: list[EventType] = strawberry.field(description="The events it receives.")
    customer_id: strawberry.Private[str | None]
    enabled: bool = strawberry.field(description="Whether events are queued and posted to it.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @strawberry.field(description="When set, only this customer's events.")
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")] | None:
        if self.customer_id is None:
            return None
        return await info.context.loaders.maybe_customer(self.customer_id)

    @strawberry.field(description="Its deliveries, newest first, each with its attempts.")
    async def deliveries(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            DeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this status."),
        ] = None,
    ) -> WebhookDeliveryConnection:
        settings = info.context.settings
        if first is not None and last is not None:
            raise bad_input("Give at most one of first and last")
        size = (
            first if first is not None else last if last is not None else settings.default_page_size
        )
        if size < 0 or size > settings.max_page_size:
            raise bad_input(f"first and last must be between 0 and {settings.max_page_size}")
        after_at = decode_cursor(after, (int,), "after")
        before_at = decode_cursor(before, (int,), "before")
        wanted = None if status is None else status.value
        async with read_connection(info.context.runtime.engine) as connection:
            rows, more = await queries.deliveries_page(
                connection,
                self.id,
                wanted,
                size=size,
                backward=last is not None,
                after=None if after_at is None else after_at[0],
                before=None if before_at is None else before_at[0],
            )
            attempts = await queries.attempts_of(connection, [row.id for row in rows])
            total = await queries.delivery_count(connection, self.id, wanted)
        edges = [
            WebhookDeliveryEdge(
                cursor=encode_cursor([row.position]),
                node=WebhookDelivery.from_row(row, self, attempts[row.id]),
            )
            for row in rows
        ]
        backward = last is not None
        page_info = PageInfo(
            has_next_page=more if not backward else before is not None,
            has_previous_page=more if backward else after is not None,
            start_keys=(rows[0].position,) if rows else None,
            end_keys=(rows[-1].position,) if rows else None,
        )
        return WebhookDeliveryConnection(edges=edges, page_info=page_info, total_count=total)

    @classmethod
    def from_row(cls, row: Any) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(row.id),
            url=row.url,
            description=row.description,
            event_types=[EventType(t) for t in row.event_types],
            customer_id=row.customer_id,
            enabled=row.enabled,
            created_at=row.created_at,
        )


async def webhook_endpoints(info: Info[Context, None]) -> list[WebhookEndpoint]:
    refuse_unless_admin(info, "webhookEndpoints")
    async with read_connection(info.context.runtime.engine) as connection:
        rows = await queries.endpoints(connection)
    return [WebhookEndpoint.from_row(row) for row in rows]


async def webhook_endpoint(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint's id (`whe_…`).")],
) -> WebhookEndpoint | None:
    refuse_unless_admin(info, "webhookEndpoint")
    kind = kind_of(id)
    if kind is None:
        raise bad_input(f"{id!r} is not a valid ID")
    if kind != "webhook_endpoint":
        return None
    async with read_connection(info.context.runtime.engine) as connection:
        row = await queries.endpoint(connection, id)
    return None if row is None else WebhookEndpoint.from_row(row)


async def delivery_of(info: Info[Context, None], delivery_id: str) -> WebhookDelivery:
    async with read_connection(info.context.runtime.engine) as connection:
        row = await queries.delivery(connection, delivery_id)
        assert row is not None
        endpoint = await queries.endpoint(connection, row.endpoint_id)
        attempts = await queries.attempts_of(connection, [delivery_id])
    return WebhookDelivery.from_row(row, WebhookEndpoint.from_row(endpoint), attempts[delivery_id])
