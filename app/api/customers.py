"""Customer, its connection and filter; its balances, grants, ledger and expirations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from app.api.balances import CreditBalance, CreditExpiration
from app.api.common import Label, LabelInput, Node, PageInfo, labels_of
from app.api.context import Context
from app.api.scalars import Duration

if TYPE_CHECKING:
    from app.api.grants import CreditGrantConnection, CreditGrantFilter, CreditGrantOrder
    from app.api.ledger import CreditLedgerEntryConnection, CreditLedgerFilter

GrantConnection = Annotated["CreditGrantConnection", strawberry.lazy("app.api.grants")]
GrantFilter = Annotated["CreditGrantFilter", strawberry.lazy("app.api.grants")]
GrantOrder = Annotated["CreditGrantOrder", strawberry.lazy("app.api.grants")]
LedgerConnection = Annotated["CreditLedgerEntryConnection", strawberry.lazy("app.api.ledger")]
LedgerFilter = Annotated["CreditLedgerFilter", strawberry.lazy("app.api.ledger")]


@strawberry.type
class Customer(Node):
    id: strawberry.ID
    key: str = strawberry.field(description="The caller's own unique reference for the customer.")
    name: str
    description: str | None
    labels: list[Label]
    created_at: datetime
    updated_at: datetime

    @strawberry.field(
        description="One balance per currency the customer has credits in, "
        "as of `at` (default: now)."
    )
    async def credit_balances(
        self, info: Info[Context, None], at: datetime | None = None, feature_key: str | None = None
    ) -> list[CreditBalance]:
        return await info.context.loaders.balances(self.id, at, feature_key)

    @strawberry.field
    async def credit_balance(
        self,
        info: Info[Context, None],
        currency: str,
        at: datetime | None = None,
        feature_key: str | None = None,
    ) -> CreditBalance:
        return await info.context.loaders.balance(self.id, currency, at, feature_key)

    @strawberry.field
    async def credit_grants(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: GrantFilter | None = None,
        order_by: GrantOrder | None = None,
    ) -> GrantConnection:
        return await info.context.loaders.customer_grants(
            self.id, first, after, last, before, filter, order_by
        )

    @strawberry.field(description="Ledger entries of this customer, newest first.")
    async def credit_ledger(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: LedgerFilter | None = None,
    ) -> LedgerConnection:
        return await info.context.loaders.customer_ledger(
            self.id, first, after, last, before, filter
        )

    @strawberry.field(
        description="Remaining credits that will expire within the given duration from now, "
        "soonest first."
    )
    async def upcoming_credit_expirations(
        self, info: Info[Context, None], within: Duration, currency: str | None = None
    ) -> list[CreditExpiration]:
        return await info.context.loaders.expirations(self.id, within, currency)

    @classmethod
    def from_row(cls, row: Any) -> Customer:
        return cls(
            id=strawberry.ID(row.id),
            key=row.key,
            name=row.name,
            description=row.description,
            labels=labels_of(row.labels),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    count_key: strawberry.Private[Any]

    @strawberry.field
    async def total_count(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.count(self.count_key)


@strawberry.input
class CustomerFilter:
    key: str | None = None
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name."
    )
    labels: list[LabelInput] | None = strawberry.field(
        default=None, description="Every label given must match."
    )


@strawberry.input
class CreateCustomerInput:
    key: str
    name: str
    description: str | None = None
    labels: list[LabelInput] | None = None


@strawberry.input
class UpdateCustomerInput:
    customer_id: strawberry.ID
    name: str | None = None
    description: str | None = None
    labels: list[LabelInput] | None = None
