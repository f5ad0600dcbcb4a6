"""The Query root and the schema, built once per process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cache, partial
from typing import Annotated, Any

import strawberry
from graphql import ASTValidationRule, NoSchemaIntrospectionCustomRule
from graphql.execution.executor import Executor
from strawberry.extensions import AddValidationRules, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from app.api.access import Viewer, viewer_of
from app.api.arguments import TextArguments
from app.api.common import Node
from app.api.context import Context
from app.api.currencies import Currency
from app.api.customers import Customer, CustomerConnection, CustomerFilter
from app.api.errors import bad_input
from app.api.fanout import EventExecutor
from app.api.grants import CreditGrant
from app.api.ledger import (
    CreditConsumption,
    CreditLedgerEntry,
    CreditLedgerEntryConnection,
    LedgerFilter,
)
from app.api.limits import Limits, OperationLimits, alias_rule, depth_rule
from app.api.masking import CodedParserCache, MaskInternalErrors
from app.api.mutations import Mutation
from app.api.pagination import After, Before, First, Last
from app.api.preview import CreditConsumptionPreview, preview
from app.api.revenue import CreditRevenueReport, revenue
from app.api.scalars import SCALARS
from app.api.schedules import CreditGrantSchedule
from app.api.subscriptions import Subscription
from app.api.suggestions import ValidationCacheWithoutSuggestions, without_suggestions
from app.api.view import CompiledReads, OneOperation
from app.api.webhooks import WebhookEndpoint, webhook_endpoint, webhook_endpoints
from app.domain.ids import kind_of


async def find_node(info: Info[Context, None], id: str) -> Node | None:
    loaders = info.context.loaders
    kind = kind_of(id)
    if kind is None:
        raise bad_input(f"{id!r} is not a valid ID")
    if kind == "customer":
        return await loaders.maybe_customer(id)
    if kind == "grant":
        return await loaders.maybe_grant(id)
    if kind == "consumption":
        return await loaders.consumption(id)
    if kind == "entry":
        return await loaders.entry(id)
    if kind == "schedule":
        return await loaders.schedule(id)
    if kind == "threshold":
        return await loaders.maybe_threshold(id)
    if kind == "threshold_event":
        return await loaders.threshold_event(id)
    return None


@strawberry.type(description="Reads: customers, their grants, balances and ledger.")
class Query:
    @strawberry.field(
        description="Any object by its id: a customer, grant, grant schedule, consumption or "
        "ledger entry. null when there is none the caller may see; a malformed id is "
        "BAD_USER_INPUT."
    )
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The object's id.")],
    ) -> Node | None:
        return await find_node(info, id)

    @strawberry.field(
        description="Several objects by id, answered in the order asked (null for each one "
        "not found); at most as many ids as the largest page (500 by default)."
    )
    async def nodes(
        self,
        info: Info[Context, None],
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="The objects' ids.")],
    ) -> list[Node | None]:
        maximum = info.context.settings.max_page_size
        if len(ids) > maximum:  # like a page size over the limit: bad input
            raise bad_input(f"nodes got {len(ids)} ids, over the page limit of {maximum}")
        return list(await asyncio.gather(*(find_node(info, id) for id in ids)))

    @strawberry.field(
        description="A customer by id or by the key you gave it: exactly one of the two. "
        "null when there is none the caller may see."
    )
    async def customer(
        self,
        info: Info[Context, None],
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The customer's id.")
        ] = None,
        key: Annotated[
            str | None, strawberry.argument(description="The key the customer was created with.")
        ] = None,
    ) -> Customer | None:
        if (id is None) == (key is None):
            raise bad_input("Give exactly one of id and key")
        if key is not None:
            return await info.context.loaders.customer_by_key(key)
        assert id is not None
        if kind_of(id) is None:
            raise bad_input(f"{id!r} is not a valid ID")
        return await info.context.loaders.maybe_customer(id)

    @strawberry.field(
        description="Customers, a page at a time, optionally filtered by key, part of the "
        "name or labels. A portal token sees only its own customer."
    )
    async def customers(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            CustomerFilter | None,
            strawberry.argument(description="Only the customers that match every field given."),
        ] = None,
    ) -> CustomerConnection:
        return await info.context.loaders.customers_page(first, after, last, before, filter)

    @strawberry.field(
        description="A grant (one lot of credits) by id; null when there is none the "
        "caller may see."
    )
    async def credit_grant(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The grant's id (`grt_…`).")],
    ) -> CreditGrant | None:
        node = await find_node(info, id)
        return node if isinstance(node, CreditGrant) else None

    @strawberry.field(
        description="A consumption (one use of credits, drawn from one or more grants) by "
        "id; null when there is none the caller may see."
    )
    async def credit_consumption(
        self,
        info: Info[Context, None],
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The consumption's id (`csm_…`).")
        ],
    ) -> CreditConsumption | None:
        node = await find_node(info, id)
        return node if isinstance(node, CreditConsumption) else None

    @strawberry.field(
        description="Ledger entries of all customers, newest first (finance and export); "
        "with a portal token, its customer's only."
    )
    async def credit_ledger(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: LedgerFilter = None,
    ) -> CreditLedgerEntryConnection:
        return await info.context.loaders.customer_ledger(None, first, after, last, before, filter)

    @strawberry.field(
        description="Who the request is made as: an API key and its role, a portal token "
        "and its customer, or OPEN mode."
    )
    def viewer(self, info: Info[Context, None]) -> Viewer:
        return viewer_of(info)

    @strawberry.field(
        description="Every currency credits can be counted in: the ISO 4217 currencies "
        "with an official minor unit, and the custom credit units created."
    )
    async def currencies(self, info: Info[Context, None]) -> list[Currency]:
        return [Currency.from_domain(c) for c in await info.context.runtime.catalog.all()]

    preview_credit_consumption: CreditConsumptionPreview = strawberry.field(
        resolver=preview,
        description="What consumeCredits would do now with the same arguments; writes nothing.",
    )

    webhook_endpoints_: list[WebhookEndpoint] = strawberry.field(
        name="webhookEndpoints",
        resolver=webhook_endpoints,
        description="Every webhook endpoint (ADMIN only).",
    )

    webhook_endpoint_: WebhookEndpoint | None = strawberry.field(
        name="webhookEndpoint",
        resolver=webhook_endpoint,
        description="A webhook endpoint by id, with its deliveries (ADMIN only).",
    )

    credit_revenue: CreditRevenueReport = strawberry.field(
        resolver=revenue,
        description="Revenue of paid credits over every customer, in one purchase currency "
        "(ADMIN and READER keys only).",
    )


@cache
def get_schema(limits: Limits = Limits()) -> strawberry.Schema:
    """Built once per process and set of limits; validation rules are made once here."""
    rules: list[type[ASTValidationRule]] = [
        depth_rule(limits.max_depth),
        alias_rule(limits.max_aliases),
    ]
    executor: type[Executor[Any]] = EventExecutor
    validation: Callable[[], SchemaExtension] = partial(ValidationCache, maxsize=1000)
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
        executor = without_suggestions(EventExecutor)
        validation = ValidationCacheWithoutSuggestions
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Customer, CreditGrant, CreditConsumption, CreditLedgerEntry, CreditGrantSchedule],
        config=StrawberryConfig(scalar_map=SCALARS),  # sort_schema breaks enum defaults
        execution_context_class=executor,
        extensions=[
            MaskInternalErrors,
            lambda: OperationLimits(
                max_tokens=limits.max_tokens,
                max_cost=limits.max_cost,
                default_page_size=limits.default_page_size,
            ),
            TextArguments,
            lambda: CodedParserCache(maxsize=1000),
            OneOperation,
            validation,
            lambda: AddValidationRules(rules),
            CompiledReads,  # last: after OperationLimits and TextArguments may answer
        ],
    )


def export_schema() -> str:
    return get_schema().as_str() + "\n"
