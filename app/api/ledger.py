"""Ledger entries, their actor and connection, and consumptions (which group entries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types import Info

from app.api.common import Label, Node, PageInfo, labels_of
from app.api.context import Context
from app.api.errors import checked_instant
from app.domain.money import from_minor

if TYPE_CHECKING:
    from app.api.customers import Customer
    from app.api.grants import CreditGrant


@strawberry.enum
class CreditLedgerEntryType(Enum):
    FUNDED = strawberry.enum_value("FUNDED", description="Credits became consumable.")
    CONSUMED = "CONSUMED"
    RESTORED = strawberry.enum_value(
        "RESTORED",
        description="A consumption was reversed and its credits returned to the grants "
        "they came from.",
    )
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"


@strawberry.enum
class ActorType(Enum):
    SYSTEM = strawberry.enum_value(
        "SYSTEM", description="The server itself: scheduled funding and expiry."
    )
    API_KEY = "API_KEY"
    OPEN = strawberry.enum_value(
        "OPEN", description="A request in OPEN mode, when no API key exists yet."
    )


@strawberry.type
class Actor:
    type: ActorType
    id: strawberry.ID | None
    name: str


@strawberry.type(description="An immutable record of one movement of credits on one grant.")
class CreditLedgerEntry(Node):
    id: strawberry.ID
    customer_id: strawberry.Private[str]
    grant_id: strawberry.Private[str]
    consumption_id: strawberry.Private[str | None]
    type: CreditLedgerEntryType
    currency: str
    amount: Decimal
    available_balance_before: Decimal
    available_balance_after: Decimal
    sequence: int
    booked_at: datetime
    created_at: datetime
    transaction_id: strawberry.ID
    actor: Actor
    feature_key: str | None
    description: str | None
    labels: list[Label]

    # Sync resolvers: an object this request already loaded is answered at once, without
    # an awaitable per entry (a ledger page of 10,000 entries asks for their grants).
    @strawberry.field
    def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return cast("Customer", info.context.loaders.customer_soon(self.customer_id))

    @strawberry.field
    def grant(
        self, info: Info[Context, None]
    ) -> Annotated[CreditGrant, strawberry.lazy("app.api.grants")]:
        return cast("CreditGrant", info.context.loaders.grant_soon(self.grant_id))

    @strawberry.field(description="Present on CONSUMED and RESTORED entries.")
    async def consumption(self, info: Info[Context, None]) -> CreditConsumption | None:
        if self.consumption_id is None:
            return None
        return await info.context.loaders.consumption(self.consumption_id)

    @classmethod
    def from_row(cls, row: Any, scales: dict[str, int]) -> CreditLedgerEntry:
        scale = scales[row.currency]
        return cls(
            id=strawberry.ID(row.id),
            customer_id=row.customer_id,
            grant_id=row.grant_id,
            consumption_id=row.consumption_id,
            type=CreditLedgerEntryType(row.type),
            currency=row.currency,
            amount=from_minor(row.amount, scale),
            available_balance_before=from_minor(row.balance_before, scale),
            available_balance_after=from_minor(row.balance_after, scale),
            sequence=row.sequence,
            booked_at=row.booked_at,
            created_at=row.created_at,
            transaction_id=strawberry.ID(row.transaction_id),
            actor=Actor(
                type=ActorType(row.actor_type),
                id=strawberry.ID(row.actor_id) if row.actor_id else None,
                name=row.actor_name,
            ),
            feature_key=row.feature_key,
            description=row.description,
            labels=labels_of(row.labels),
        )


@strawberry.type
class CreditLedgerEntryEdge:
    cursor: str
    node: CreditLedgerEntry


@strawberry.type
class CreditLedgerEntryConnection:
    edges: list[CreditLedgerEntryEdge]
    page_info: PageInfo
    count_key: strawberry.Private[Any]

    @strawberry.field
    async def total_count(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.count(self.count_key)


@strawberry.input
class CreditLedgerFilter:
    types: list[CreditLedgerEntryType] | None = None
    currency: str | None = None
    grant_id: strawberry.ID | None = None
    feature_key: str | None = strawberry.field(
        default=None,
        description="Entries of grants that can pay for this feature: "
        "unrestricted ones and those listing it.",
    )
    booked_from: datetime | None = strawberry.field(
        default=None, description="Inclusive lower bound on bookedAt."
    )
    booked_before: datetime | None = strawberry.field(
        default=None, description="Exclusive upper bound on bookedAt."
    )


@dataclass(frozen=True)
class LedgerQuery:
    """A ledger list request in plain values: hashable, so loaders can batch by it."""

    types: tuple[str, ...] | None = None
    currency: str | None = None
    grant_id: str | None = None
    feature_key: str | None = None
    booked_from: datetime | None = None
    booked_before: datetime | None = None

    @classmethod
    def of(cls, filter: CreditLedgerFilter | None) -> LedgerQuery:
        f = filter or CreditLedgerFilter()
        return cls(
            types=None if f.types is None else tuple(sorted({t.value for t in f.types})),
            currency=f.currency,
            grant_id=f.grant_id,
            feature_key=f.feature_key,
            booked_from=_instant(f.booked_from, "bookedFrom"),
            booked_before=_instant(f.booked_before, "bookedBefore"),
        )


def _instant(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else checked_instant(value, name)


@strawberry.type
class CreditConsumption(Node):
    id: strawberry.ID
    customer_id: strawberry.Private[str]
    key: str
    currency: str
    feature_key: str | None
    description: str | None
    labels: list[Label]
    requested: Decimal
    consumed: Decimal = strawberry.field(description="What was drawn when it was consumed.")
    shortfall: Decimal
    reversed: Decimal = strawberry.field(
        description="What has been given back by reversals so far."
    )
    created_at: datetime

    @strawberry.field
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return await info.context.loaders.customer(self.customer_id)

    @strawberry.field(description="One CONSUMED entry per grant drawn, in burn order.")
    async def entries(self, info: Info[Context, None]) -> list[CreditLedgerEntry]:
        return await info.context.loaders.consumption_entries(self.id)

    @classmethod
    def from_row(cls, row: Any, scales: dict[str, int]) -> CreditConsumption:
        scale = scales[row.currency]
        return cls(
            id=strawberry.ID(row.id),
            customer_id=row.customer_id,
            key=row.key,
            currency=row.currency,
            feature_key=row.feature_key,
            description=row.description,
            labels=labels_of(row.labels),
            requested=from_minor(row.requested, scale),
            consumed=from_minor(row.consumed, scale),
            shortfall=from_minor(row.shortfall, scale),
            reversed=from_minor(row.reversed, scale),
            created_at=row.created_at,
        )
