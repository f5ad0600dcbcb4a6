"""Customer and its filter; its balances, grants, ledger and expirations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app.api.balances import CreditBalance, CreditExpiration
from app.api.common import LABELS, Label, LabelInput, Node, label_pairs, stored_labels
from app.api.context import Context
from app.api.grants import CreditGrantConnection, CreditGrantFilter, CreditGrantOrder
from app.api.ledger import CreditLedgerEntryConnection, CreditLedgerHead, LedgerFilter
from app.api.pagination import After, Before, Connection, First, Last
from app.api.scalars import Duration
from app.api.schedules import CreditGrantScheduleConnection
from app.api.thresholds import CreditThreshold, CreditThresholdEventConnection
from app.storage.queries.customers import CustomerQuery

At = Annotated[
    datetime | None,
    strawberry.argument(
        description="The instant the figures are for (default: now); not in the future."
    ),
]
FeatureKey = Annotated[
    str | None,
    strawberry.argument(
        description="Count only grants that can pay for this feature: unrestricted ones and "
        "those listing it."
    ),
]
CurrencyCode = Annotated[str, strawberry.argument(description="The currency or custom unit code.")]
OnlyCurrency = Annotated[
    str | None, strawberry.argument(description="Only this currency (default: every one).")
]


@strawberry.type(description="Who owns credits.")
class Customer(Node):
    id: strawberry.ID = strawberry.field(description="The customer's id (`cus_…`).")
    key: str = strawberry.field(description="The caller's own unique reference for the customer.")
    name: str = strawberry.field(description="Its name, for people.")
    description: str | None = strawberry.field(description="Free text, for people.")
    raw_labels: strawberry.Private[Any]
    labels: list[Label] = strawberry.field(resolver=stored_labels, description=LABELS)
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(
        description="One balance per currency the customer has credits in, "
        "as of `at` (default: now)."
    )
    async def credit_balances(
        self, info: Info[Context, None], at: At = None, feature_key: FeatureKey = None
    ) -> list[CreditBalance]:
        return await info.context.loaders.balances(self.id, at, feature_key)

    @strawberry.field(
        description="The customer's balance in one currency as of `at` (default: now); "
        "all zeros for a known currency the customer never had."
    )
    async def credit_balance(
        self,
        info: Info[Context, None],
        currency: CurrencyCode,
        at: At = None,
        feature_key: FeatureKey = None,
    ) -> CreditBalance:
        return await info.context.loaders.balance(self.id, currency, at, feature_key)

    @strawberry.field(description="The customer's grants, by creation unless ordered otherwise.")
    async def credit_grants(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            CreditGrantFilter | None,
            strawberry.argument(description="Only the grants that match every field given."),
        ] = None,
        order_by: Annotated[
            CreditGrantOrder | None,
            strawberry.argument(description="The sort order (default: by creation)."),
        ] = None,
    ) -> CreditGrantConnection:
        return await info.context.loaders.customer_grants(
            self.id, first, after, last, before, filter, order_by
        )

    @strawberry.field(description="The customer's grant schedules, in creation order.")
    async def credit_grant_schedules(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> CreditGrantScheduleConnection:
        loaders = info.context.loaders
        return await loaders.customer_schedules(self.id, first, after, last, before)

    @strawberry.field(description="Ledger entries of this customer, newest first.")
    async def credit_ledger(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: LedgerFilter = None,
    ) -> CreditLedgerEntryConnection:
        return await info.context.loaders.customer_ledger(
            self.id, first, after, last, before, filter
        )

    @strawberry.field(
        description="The last sequence and hash of the customer's ledger in one currency: "
        "keep it to prove later that nothing before it changed."
    )
    async def credit_ledger_head(
        self, info: Info[Context, None], currency: CurrencyCode
    ) -> CreditLedgerHead:
        return await info.context.loaders.ledger_head(self.id, currency)

    @strawberry.field(description="The customer's thresholds, oldest first.")
    async def credit_thresholds(
        self,
        info: Info[Context, None],
        currency: OnlyCurrency = None,
        include_deleted: Annotated[
            bool | None, strawberry.argument(description="Include deleted thresholds too.")
        ] = False,
    ) -> list[CreditThreshold]:
        return await info.context.loaders.customer_thresholds(
            self.id, currency, bool(include_deleted)
        )

    @strawberry.field(description="Threshold events of this customer, oldest first.")
    async def credit_threshold_events(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        currency: OnlyCurrency = None,
    ) -> CreditThresholdEventConnection:
        return await info.context.loaders.threshold_events(
            "customer", self.id, self.id, currency, first, after, last, before
        )

    @strawberry.field(
        description="Remaining credits that will expire within the given duration from now, "
        "soonest first."
    )
    async def upcoming_credit_expirations(
        self,
        info: Info[Context, None],
        within: Annotated[
            Duration, strawberry.argument(description="How far ahead of now to look.")
        ],
        currency: OnlyCurrency = None,
    ) -> list[CreditExpiration]:
        return await info.context.loaders.expirations(self.id, within, currency)

    @classmethod
    def from_row(cls, row: Any) -> Customer:
        return cls(
            id=strawberry.ID(row.id),
            key=row.key,
            name=row.name,
            description=row.description,
            raw_labels=row.labels,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


CustomerConnection = Connection[Customer]


@strawberry.input(description="Which customers a list keeps; every field given must match.")
class CustomerFilter:
    key: str | None = strawberry.field(default=None, description="Exactly this key.")
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name."
    )
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="Every label given must match."
    )


def customer_query(filter: CustomerFilter | None) -> CustomerQuery:
    """A customer list request in plain, hashable values."""
    if filter is None:
        return CustomerQuery()
    return CustomerQuery(filter.key, filter.name_contains, label_pairs(filter.labels))


@strawberry.input(description="A new customer.")
class CreateCustomerInput:
    key: str = strawberry.field(
        description="Your unique reference for the customer (your account id); makes retries safe."
    )
    name: str = strawberry.field(description="Its name, for people.")
    description: str | None = strawberry.field(default=None, description="Free text, for people.")
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="Keys and values for your own use; keys are unique."
    )


@strawberry.input(description="Changes to a customer: a field omitted (or null) stays as it is.")
class UpdateCustomerInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer to change.")
    name: str | None = strawberry.field(default=None, description="The new name.")
    description: str | None = strawberry.field(default=None, description="The new description.")
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="When given, replaces all labels."
    )
