"""Mutations on webhook endpoints and deliveries: ADMIN only."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from app.api.context import Context
from app.api.errors import ForbiddenError, NotFoundError, ValidationError
from app.api.mutations.support import answer, forbidden
from app.api.webhooks import WebhookDelivery, WebhookEndpoint, delivery_of
from app.domain.webhooks import EventType
from app.services.webhooks import delivery, endpoints


@strawberry.input(description="A new endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="An https:// URL that does not resolve to a loopback, private, "
        "link-local or multicast address."
    )
    event_types: list[EventType] = strawberry.field(
        description="The events it receives (one or more)."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this customer's events; all customers' when omitted."
    )
    description: str | None = strawberry.field(default=None, description="Free text, for people.")


@strawberry.input(description="What changes on an endpoint: only the fields given.")
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint to change.")
    url: str | None = strawberry.field(
        default=None, description="A new URL, checked as on creation."
    )
    event_types: list[EventType] | None = strawberry.field(
        default=None, description="The events it receives from now on."
    )
    enabled: bool | None = strawberry.field(
        default=None, description="false: nothing is queued or posted for it until enabled again."
    )
    description: str | None = strawberry.field(default=None, description="Free text, for people.")


@strawberry.input(description="An endpoint, by id.")
class WebhookEndpointIdInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint's id.")


@strawberry.input(description="A delivery to attempt once more.")
class RedeliverWebhookEventInput:
    delivery_id: strawberry.ID = strawberry.field(description="The delivery's id (`whd_…`).")


@strawberry.type(description="The endpoint, and its signing secret when one was just made.")
class WebhookEndpointSuccess:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint as it now is.")
    secret: str | None = strawberry.field(
        description="The signing secret: only on creation and rotation."
    )


@strawberry.type(description="The delivery, queued for one more attempt.")
class WebhookDeliverySuccess:
    delivery: WebhookDelivery = strawberry.field(description="The delivery as it now is.")


WebhookEndpointResult = Annotated[
    WebhookEndpointSuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "WebhookEndpointResult", description="The endpoint, or why nothing was written."
    ),
]
RedeliverWebhookEventResult = Annotated[
    WebhookDeliverySuccess | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "RedeliverWebhookEventResult", description="The delivery, or why nothing was queued."
    ),
]


async def _endpoint_success(outcome: endpoints.EndpointOutcome) -> WebhookEndpointSuccess:
    return WebhookEndpointSuccess(
        endpoint=WebhookEndpoint.from_row(outcome.endpoint), secret=outcome.secret
    )


@strawberry.mutation(
    description="Create a webhook endpoint; the answer carries its signing secret, once. "
    "ADMIN only; at most 20 endpoints."
)
async def create_webhook_endpoint(
    info: Info[Context, None],
    input: Annotated[
        CreateWebhookEndpointInput, strawberry.argument(description="The endpoint to create.")
    ],
) -> WebhookEndpointResult:
    if refused := forbidden(info, "createWebhookEndpoint"):
        return refused
    call = endpoints.create_endpoint(
        info.context.runtime,
        url=input.url,
        event_types=input.event_types,
        customer_id=input.customer_id,
        description=input.description,
        allow_loopback=info.context.settings.webhooks_allow_loopback,
    )
    return await answer(info, call, _endpoint_success)  # type: ignore[no-any-return]


@strawberry.mutation(
    description="Change an endpoint's URL, event types, description or state. ADMIN only."
)
async def update_webhook_endpoint(
    info: Info[Context, None],
    input: Annotated[
        UpdateWebhookEndpointInput,
        strawberry.argument(description="The endpoint and what to change."),
    ],
) -> WebhookEndpointResult:
    if refused := forbidden(info, "updateWebhookEndpoint"):
        return refused
    call = endpoints.update_endpoint(
        info.context.runtime,
        endpoint_id=input.endpoint_id,
        url=input.url,
        event_types=input.event_types,
        enabled=input.enabled,
        description=input.description,
        allow_loopback=info.context.settings.webhooks_allow_loopback,
    )
    return await answer(info, call, _endpoint_success)  # type: ignore[no-any-return]


@strawberry.mutation(
    description="A new signing secret, shown once; the old one keeps signing beside it for "
    "24 hours (both signatures are sent). ADMIN only."
)
async def rotate_webhook_secret(
    info: Info[Context, None],
    input: Annotated[
        WebhookEndpointIdInput,
        strawberry.argument(description="The endpoint whose secret to rotate."),
    ],
) -> WebhookEndpointResult:
    if refused := forbidden(info, "rotateWebhookSecret"):
        return refused
    call = endpoints.rotate_secret(info.context.runtime, endpoint_id=input.endpoint_id)
    return await answer(info, call, _endpoint_success)  # type: ignore[no-any-return]


@strawberry.mutation(
    description="Delete an endpoint, with its deliveries and their log. ADMIN only."
)
async def delete_webhook_endpoint(
    info: Info[Context, None],
    input: Annotated[
        WebhookEndpointIdInput, strawberry.argument(description="The endpoint to delete.")
    ],
) -> WebhookEndpointResult:
    if refused := forbidden(info, "deleteWebhookEndpoint"):
        return refused
    call = endpoints.delete_endpoint(info.context.runtime, endpoint_id=input.endpoint_id)
    return await answer(info, call, _endpoint_success)  # type: ignore[no-any-return]


@strawberry.mutation(description="Queue one more attempt of a delivery, due now. ADMIN only.")
async def redeliver_webhook_event(
    info: Info[Context, None],
    input: Annotated[
        RedeliverWebhookEventInput,
        strawberry.argument(description="The delivery to attempt again."),
    ],
) -> RedeliverWebhookEventResult:
    if refused := forbidden(info, "redeliverWebhookEvent"):
        return refused
    call = delivery.redeliver(info.context.runtime, delivery_id=input.delivery_id)

    async def success(delivery_id: str) -> WebhookDeliverySuccess:
        return WebhookDeliverySuccess(delivery=await delivery_of(info, delivery_id))

    return await answer(info, call, success)  # type: ignore[no-any-return]
