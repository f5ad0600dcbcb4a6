"""CreditGrant, its purchase, its filter and order; the grant enums are the domain's."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types import Info

from app.api.common import LABELS, Label, Node, OrderDirection, schema_enum, stored_labels
from app.api.context import Context
from app.api.ledger import CreditLedgerEntryConnection
from app.api.pagination import After, Before, Connection, First, Last
from app.domain.grants import AvailabilityPolicy, FundingMethod, GrantStatus, SettlementStatus
from app.domain.money import from_minor
from app.storage.mapping import grant_from_row
from app.storage.queries.grants import GrantQuery

if TYPE_CHECKING:
    from app.api.customers import Customer
    from app.api.schedules import CreditGrantSchedule

schema_enum(
    GrantStatus,
    "CreditGrantStatus",
    "A grant's state at an instant, derived from its funding, expiry and void.",
    PENDING="Not consumable yet: effective in the future, "
    "or waiting for payment under its availability policy.",
    ACTIVE="Consumable, with a remaining amount above zero.",
    DEPLETED="Fully consumed.",
    EXPIRED="Its expiry passed; what remained was forfeited.",
    VOIDED="Voided (or its payment failed); what remained was forfeited.",
)
schema_enum(
    FundingMethod,
    "CreditFundingMethod",
    "How a grant's credits are paid for: NONE for promotional credits, INVOICE or "
    "EXTERNAL for a purchase.",
    NONE="Promotional credits: no payment workflow.",
    INVOICE="Paid through an invoice issued by the billing system.",
    EXTERNAL="Paid outside the system (wire transfer, external invoice, manual reconciliation).",
)
schema_enum(
    AvailabilityPolicy,
    "CreditAvailabilityPolicy",
    "When a purchased grant becomes fundable: at creation, once its payment is "
    "authorized, or once it is settled.",
    ON_CREATION="Fundable at creation, before any payment.",
    ON_AUTHORIZATION="Fundable once the payment is AUTHORIZED or SETTLED.",
    ON_SETTLEMENT="Fundable once the payment is SETTLED.",
)
schema_enum(
    SettlementStatus,
    "CreditSettlementStatus",
    "A payment's progress: PENDING, then AUTHORIZED and SETTLED, or FAILED.",
    PENDING="Not paid yet: where a purchase starts unless told otherwise.",
    AUTHORIZED="The payment is authorized but not settled yet.",
    SETTLED="The payment is complete (authorized too).",
    FAILED="The payment failed; the grant was voided unless depleted, expired or voided.",
)
# the names the schema knows them by
CreditGrantStatus = GrantStatus
CreditFundingMethod = FundingMethod
CreditAvailabilityPolicy = AvailabilityPolicy
CreditSettlementStatus = SettlementStatus


def _status(self: Any) -> GrantStatus:
    return grant_from_row(self.row).status(self.now)


@strawberry.type(description="The payment terms of a purchased grant, and its settlement.")
class CreditPurchase:
    currency: str = strawberry.field(description="The currency the price is paid in.")
    per_unit_cost_basis: Decimal = strawberry.field(
        description="The price of one credit, in the purchase currency."
    )
    amount: Decimal = strawberry.field(
        description="The price: the grant's amount times the cost basis, rounded half to even."
    )
    availability_policy: AvailabilityPolicy = strawberry.field(
        description="When its credits become consumable: on creation, authorization or settlement."
    )
    settlement_status: SettlementStatus = strawberry.field(description="The payment's progress.")
    payment_reference: str | None = strawberry.field(
        description="Your payment provider's reference, if given."
    )
    authorized_at: datetime | None = strawberry.field(
        description="When the payment was reported AUTHORIZED."
    )
    settled_at: datetime | None = strawberry.field(
        description="When the payment was reported SETTLED."
    )
    failed_at: datetime | None = strawberry.field(
        description="When the payment was reported FAILED."
    )


@strawberry.type(
    description="One lot of credits for one customer in one currency, with its own "
    "priority, features, effective time and expiry."
)
class CreditGrant(Node):
    id: strawberry.ID = strawberry.field(description="The grant's id (`grt_…`).")
    customer_id: strawberry.Private[str]
    key: str | None = strawberry.field(description="The caller's unique reference, if given.")
    name: str = strawberry.field(description="Its name, for people.")
    description: str | None = strawberry.field(description="Free text, for people.")
    raw_labels: strawberry.Private[Any]
    labels: list[Label] = strawberry.field(resolver=stored_labels, description=LABELS)
    currency: str = strawberry.field(description="The currency or custom unit code of its credits.")
    funding_method: FundingMethod = strawberry.field(
        description="NONE for promotional credits; INVOICE or EXTERNAL for paid ones."
    )
    purchase: CreditPurchase | None = strawberry.field(description="Null for promotional credits.")
    priority: int = strawberry.field(description="Lower is drawn first (1 to 1000).")
    features: list[str] = strawberry.field(
        description="The features its credits can pay for; empty for any."
    )
    effective_at: datetime = strawberry.field(
        description="When its credits become consumable, once it is fundable."
    )
    expires_at: datetime | None = strawberry.field(
        description="When what remains is forfeited; null: never."
    )
    voided_at: datetime | None = strawberry.field(
        description="When it was voided; null: not voided."
    )
    void_reason: str | None = strawberry.field(description="Why it was voided.")
    row: strawberry.Private[Any]
    now: strawberry.Private[datetime]
    status: GrantStatus = strawberry.field(
        resolver=_status, description="The grant's status as of the request."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    amount: Decimal = strawberry.field(description="Credits granted.")
    remaining: Decimal = strawberry.field(description="Credits still to draw or forfeit.")
    consumed: Decimal = strawberry.field(description="Credits drawn, net of reversals.")
    expired: Decimal = strawberry.field(description="Credits forfeited at expiry.")
    voided: Decimal = strawberry.field(description="Credits forfeited by a void.")

    @strawberry.field(description="Who owns the grant.")
    def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return cast("Customer", info.context.loaders.customer_soon(self.customer_id))

    schedule_id: strawberry.Private[str | None]

    @strawberry.field(description="The schedule that booked this grant, if any.")
    async def schedule(
        self, info: Info[Context, None]
    ) -> Annotated[CreditGrantSchedule, strawberry.lazy("app.api.schedules")] | None:
        if self.schedule_id is None:
            return None
        return await info.context.loaders.schedule(self.schedule_id)

    @strawberry.field(description="Ledger entries booked against this grant, newest first.")
    async def ledger_entries(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> CreditLedgerEntryConnection:
        return await info.context.loaders.grant_entries(self.id, first, after, last, before)

    @classmethod
    def from_row(cls, row: Any, scales: dict[str, int], now: datetime) -> CreditGrant:
        scale = scales[row.currency]
        return cls(
            id=strawberry.ID(row.id),
            customer_id=row.customer_id,
            key=row.key,
            name=row.name,
            description=row.description,
            raw_labels=row.labels,
            currency=row.currency,
            funding_method=FundingMethod(row.funding_method),
            purchase=_purchase(row, scales),
            priority=row.priority,
            features=list(row.features),
            effective_at=row.effective_at,
            expires_at=row.expires_at,
            voided_at=row.voided_at,
            void_reason=row.void_reason,
            row=row,
            now=now,
            created_at=row.created_at,
            updated_at=row.updated_at,
            amount=from_minor(row.amount, scale),
            remaining=from_minor(row.remaining, scale),
            consumed=from_minor(row.consumed, scale),
            expired=from_minor(row.expired, scale),
            voided=from_minor(row.voided, scale),
            schedule_id=row.schedule_id,
        )


CreditGrantConnection = Connection[CreditGrant]


def _purchase(row: Any, scales: dict[str, int]) -> CreditPurchase | None:
    if row.purchase_currency is None:
        return None
    return CreditPurchase(
        currency=row.purchase_currency,
        per_unit_cost_basis=Decimal(row.cost_basis),
        amount=from_minor(row.purchase_amount, scales[row.purchase_currency]),
        availability_policy=AvailabilityPolicy(row.availability_policy),
        settlement_status=SettlementStatus(row.settlement_status),
        payment_reference=row.payment_reference,
        authorized_at=row.authorized_at,
        settled_at=row.settled_at,
        failed_at=row.failed_at,
    )


@strawberry.input(description="Which grants a list keeps; every field given must match.")
class CreditGrantFilter:
    status: list[GrantStatus] | None = strawberry.field(
        default=None, description="Any of these statuses, as of the request."
    )
    currency: str | None = strawberry.field(
        default=None, description="Only grants in this currency."
    )
    funding_method: list[FundingMethod] | None = strawberry.field(
        default=None, description="Only grants with one of these funding methods."
    )
    settlement_status: list[SettlementStatus] | None = strawberry.field(
        default=None, description="Only paid grants whose payment has one of these statuses."
    )
    key: str | None = strawberry.field(default=None, description="Only the grant with this key.")
    feature_key: str | None = strawberry.field(
        default=None,
        description="Grants whose credits can pay for this feature: "
        "unrestricted ones and those listing it.",
    )


@strawberry.enum(description="What a grant list is sorted by (then by id).")
class CreditGrantOrderField(Enum):
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="By creation time.")
    EFFECTIVE_AT = strawberry.enum_value(
        "EFFECTIVE_AT", description="By when the grant's credits take effect."
    )
    EXPIRES_AT = strawberry.enum_value(
        "EXPIRES_AT", description="By expiry; one that never expires counts as expiring last."
    )
    PRIORITY = strawberry.enum_value("PRIORITY", description="By priority (1 is drawn first).")
    BURN_ORDER = strawberry.enum_value(
        "BURN_ORDER",
        description=(
            "The order in which consumption draws credits: priority, restricted before"
            " unrestricted, soonest expiry, lowest cost basis, earliest effectiveAt."
        ),
    )


@strawberry.input(description="How a grant list is sorted.")
class CreditGrantOrder:
    field: CreditGrantOrderField = strawberry.field(description="What to sort by.")
    direction: OrderDirection | None = strawberry.field(
        default=OrderDirection.ASC, description="ASC (the default) or DESC."
    )


def grant_query(filter: CreditGrantFilter | None, order: CreditGrantOrder | None) -> GrantQuery:
    """A grant list request in plain, hashable values."""
    f = filter or CreditGrantFilter()
    return GrantQuery(
        statuses=_values(f.status),
        currency=f.currency,
        funding_methods=_values(f.funding_method),
        settlement_statuses=_values(f.settlement_status),
        key=f.key,
        feature_key=f.feature_key,
        order=order.field.name if order else "CREATED_AT",
        descending=bool(order and order.direction is OrderDirection.DESC),
    )


def _values(items: list[Any] | None) -> tuple[str, ...] | None:
    return None if items is None else tuple(sorted({item.value for item in items}))
