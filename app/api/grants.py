"""CreditGrant, its purchase, its connection, its filter and order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types import Info

from app.api.common import Label, Node, OrderDirection, PageInfo, labels_of
from app.api.context import Context
from app.domain.money import from_minor
from app.storage.mapping import grant_from_row

if TYPE_CHECKING:
    from app.api.customers import Customer
    from app.api.ledger import CreditLedgerEntryConnection


@strawberry.enum
class CreditGrantStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING",
        description="Not consumable yet: effective in the future, "
        "or waiting for payment under its availability policy.",
    )
    ACTIVE = strawberry.enum_value(
        "ACTIVE", description="Consumable, with a remaining amount above zero."
    )
    DEPLETED = strawberry.enum_value("DEPLETED", description="Fully consumed.")
    EXPIRED = strawberry.enum_value(
        "EXPIRED", description="Its expiry passed; what remained was forfeited."
    )
    VOIDED = strawberry.enum_value(
        "VOIDED", description="Voided (or its payment failed); what remained was forfeited."
    )


@strawberry.enum
class CreditFundingMethod(Enum):
    NONE = "NONE"
    INVOICE = "INVOICE"
    EXTERNAL = "EXTERNAL"


@strawberry.enum
class CreditAvailabilityPolicy(Enum):
    ON_CREATION = "ON_CREATION"
    ON_AUTHORIZATION = "ON_AUTHORIZATION"
    ON_SETTLEMENT = "ON_SETTLEMENT"


@strawberry.enum
class CreditSettlementStatus(Enum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    SETTLED = "SETTLED"
    FAILED = "FAILED"


@strawberry.type
class CreditPurchase:
    currency: str
    per_unit_cost_basis: Decimal
    amount: Decimal
    availability_policy: CreditAvailabilityPolicy
    settlement_status: CreditSettlementStatus
    payment_reference: str | None
    authorized_at: datetime | None
    settled_at: datetime | None
    failed_at: datetime | None


@strawberry.type
class CreditGrant(Node):
    id: strawberry.ID
    customer_id: strawberry.Private[str]
    key: str | None
    name: str
    description: str | None
    labels: list[Label]
    currency: str
    funding_method: CreditFundingMethod
    purchase: CreditPurchase | None
    priority: int
    features: list[str]
    effective_at: datetime
    expires_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    status: CreditGrantStatus
    created_at: datetime
    updated_at: datetime
    amount: Decimal
    remaining: Decimal
    consumed: Decimal
    expired: Decimal
    voided: Decimal

    @strawberry.field
    def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return cast("Customer", info.context.loaders.customer_soon(self.customer_id))

    @strawberry.field(description="Ledger entries booked against this grant, newest first.")
    async def ledger_entries(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Annotated[CreditLedgerEntryConnection, strawberry.lazy("app.api.ledger")]:
        return await info.context.loaders.grant_entries(self.id, first, after, last, before)

    @classmethod
    def from_row(cls, row: Any, scales: dict[str, int], now: datetime) -> CreditGrant:
        grant = grant_from_row(row)
        scale = scales[row.currency]
        return cls(
            id=strawberry.ID(row.id),
            customer_id=row.customer_id,
            key=row.key,
            name=row.name,
            description=row.description,
            labels=labels_of(row.labels),
            currency=row.currency,
            funding_method=CreditFundingMethod(row.funding_method),
            purchase=_purchase(row, scales),
            priority=row.priority,
            features=list(row.features),
            effective_at=row.effective_at,
            expires_at=row.expires_at,
            voided_at=row.voided_at,
            void_reason=row.void_reason,
            status=CreditGrantStatus(grant.status(now).value),
            created_at=row.created_at,
            updated_at=row.updated_at,
            amount=from_minor(row.amount, scale),
            remaining=from_minor(row.remaining, scale),
            consumed=from_minor(row.consumed, scale),
            expired=from_minor(row.expired, scale),
            voided=from_minor(row.voided, scale),
        )


def _purchase(row: Any, scales: dict[str, int]) -> CreditPurchase | None:
    if row.purchase_currency is None:
        return None
    return CreditPurchase(
        currency=row.purchase_currency,
        per_unit_cost_basis=Decimal(row.cost_basis),
        amount=from_minor(row.purchase_amount, scales[row.purchase_currency]),
        availability_policy=CreditAvailabilityPolicy(row.availability_policy),
        settlement_status=CreditSettlementStatus(row.settlement_status),
        payment_reference=row.payment_reference,
        authorized_at=row.authorized_at,
        settled_at=row.settled_at,
        failed_at=row.failed_at,
    )


@strawberry.type
class CreditGrantEdge:
    cursor: str
    node: CreditGrant


@strawberry.type
class CreditGrantConnection:
    edges: list[CreditGrantEdge]
    page_info: PageInfo
    count_key: strawberry.Private[Any]

    @strawberry.field
    async def total_count(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.count(self.count_key)


@strawberry.input
class CreditGrantFilter:
    status: list[CreditGrantStatus] | None = None
    currency: str | None = None
    funding_method: list[CreditFundingMethod] | None = None
    settlement_status: list[CreditSettlementStatus] | None = None
    key: str | None = None
    feature_key: str | None = strawberry.field(
        default=None,
        description="Grants whose credits can pay for this feature: "
        "unrestricted ones and those listing it.",
    )


@strawberry.enum
class CreditGrantOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    EFFECTIVE_AT = "EFFECTIVE_AT"
    EXPIRES_AT = "EXPIRES_AT"
    PRIORITY = "PRIORITY"
    BURN_ORDER = strawberry.enum_value(
        "BURN_ORDER", description="The order in which consumption draws credits; see DESIGN.md."
    )


@strawberry.input
class CreditGrantOrder:
    field: CreditGrantOrderField
    direction: OrderDirection | None = OrderDirection.ASC


@dataclass(frozen=True)
class GrantQuery:
    """A grant list request in plain values: hashable, so loaders can batch by it."""

    statuses: tuple[str, ...] | None = None
    currency: str | None = None
    funding_methods: tuple[str, ...] | None = None
    settlement_statuses: tuple[str, ...] | None = None
    key: str | None = None
    feature_key: str | None = None
    order: str = "CREATED_AT"
    descending: bool = False

    @classmethod
    def of(cls, filter: CreditGrantFilter | None, order: CreditGrantOrder | None) -> GrantQuery:
        f = filter or CreditGrantFilter()
        return cls(
            statuses=_values(f.status),
            currency=f.currency,
            funding_methods=_values(f.funding_method),
            settlement_statuses=_values(f.settlement_status),
            key=f.key,
            feature_key=f.feature_key,
            order=order.field.value if order else "CREATED_AT",
            descending=bool(order and order.direction is OrderDirection.DESC),
        )


def _values(items: list[Any] | None) -> tuple[str, ...] | None:
    return None if items is None else tuple(sorted({item.value for item in items}))
