"""Ledger entries, their actor and filter, and consumptions (which group entries); the
entry and actor enums are the domain's."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types import Info

from app.api.common import LABELS, Label, Node, schema_enum, stored_labels
from app.api.context import Context
from app.api.errors import checked_instant
from app.api.pagination import Connection
from app.domain.ledger import ActorType, EntryType
from app.domain.money import from_minor
from app.storage.queries.ledger import LedgerQuery

if TYPE_CHECKING:
    from app.api.customers import Customer
    from app.api.grants import CreditGrant

schema_enum(
    EntryType,
    "CreditLedgerEntryType",
    "What movement of credits an entry records.",
    FUNDED="Credits became consumable.",
    CONSUMED="Credits were drawn by a consumption.",
    RESTORED="A consumption was reversed and its credits returned to the grants they came from.",
    EXPIRED="What remained of a grant was forfeited at its expiry.",
    VOIDED="What remained of a grant was forfeited by a void.",
)
schema_enum(
    ActorType,
    "ActorType",
    "Who booked an entry.",
    SYSTEM="The server itself: scheduled funding and expiry.",
    API_KEY="A request made with an API key.",
    OPEN="A request in OPEN mode, when no API key exists yet.",
)
CreditLedgerEntryType = EntryType  # the name the schema knows it by


@strawberry.type(description="Who booked a ledger entry.")
class Actor:
    type: ActorType = strawberry.field(description="What kind of actor: an API key or the system.")
    id: strawberry.ID | None = strawberry.field(description="The API key's id, for API_KEY.")
    name: str = strawberry.field(description='The API key\'s name, or "system" or "open".')


@strawberry.type(description="An immutable record of one movement of credits on one grant.")
class CreditLedgerEntry(Node):
    id: strawberry.ID = strawberry.field(description="The entry's global id.")
    customer_id: strawberry.Private[str]
    grant_id: strawberry.Private[str]
    consumption_id: strawberry.Private[str | None]
    type: EntryType = strawberry.field(description="What kind of movement the entry records.")
    currency: str = strawberry.field(description="The credit currency of the ledger it belongs to.")
    amount: Decimal = strawberry.field(
        description="The change to the available balance: negative when credits leave it."
    )
    available_balance_before: Decimal = strawberry.field(
        description="The available balance of the customer's ledger in this currency "
        "just before this entry."
    )
    available_balance_after: Decimal = strawberry.field(
        description="The same balance just after this entry: before + amount."
    )
    sequence: int = strawberry.field(
        description="The entry's number in the customer's ledger in this currency: 1, 2, 3, "
        "… with no gaps."
    )
    booked_at: datetime = strawberry.field(description="When the movement took effect.")
    created_at: datetime = strawberry.field(description="When the entry was written.")
    transaction_id: strawberry.ID = strawberry.field(
        description="Shared by the entries one operation wrote."
    )
    actor: Actor = strawberry.field(description="Who booked the entry.")
    feature_key: str | None = strawberry.field(
        description="The feature the movement was for, if any."
    )
    description: str | None = strawberry.field(description="Free text from the caller.")
    raw_labels: strawberry.Private[Any]
    labels: list[Label] = strawberry.field(resolver=stored_labels, description=LABELS)
    hash: str = strawberry.field(
        description="SHA-256 (hex) over the previous entry's hash and this entry's immutable "
        "fields."
    )

    # Sync resolvers: an object this request already loaded is answered at once, without
    # an awaitable per entry (a ledger page of 10,000 entries asks for their grants).
    @strawberry.field(description="Whose ledger the entry is in.")
    def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return cast("Customer", info.context.loaders.customer_soon(self.customer_id))

    @strawberry.field(description="The grant whose credits moved.")
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
            type=EntryType(row.type),
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
            raw_labels=row.labels,
            hash=row.hash,
        )


@strawberry.type(description="The last entry of a customer's ledger in one currency.")
class CreditLedgerHead:
    currency: str = strawberry.field(description="The ledger's credit currency.")
    sequence: int = strawberry.field(
        description="Sequence of the last entry; 0 when the ledger is empty."
    )
    hash: str = strawberry.field(
        description="The last entry's hash; 64 zeros when the ledger is empty."
    )


CreditLedgerEntryConnection = Connection[CreditLedgerEntry]


@strawberry.input(description="Which ledger entries a list keeps; every field given must match.")
class CreditLedgerFilter:
    types: list[EntryType] | None = strawberry.field(
        default=None, description="Only entries of these types."
    )
    currency: str | None = strawberry.field(
        default=None, description="Only entries in this credit currency."
    )
    grant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only entries that moved this grant's credits."
    )
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


LedgerFilter = Annotated[  # the `filter` argument of every ledger list
    CreditLedgerFilter | None,
    strawberry.argument(description="Only the entries that match every field given."),
]


def ledger_query(filter: CreditLedgerFilter | None) -> LedgerQuery:
    """A ledger list request in plain, hashable values (its instants checked)."""
    f = filter or CreditLedgerFilter()
    return LedgerQuery(
        types=None if f.types is None else tuple(sorted({t.value for t in f.types})),
        currency=f.currency,
        grant_id=f.grant_id,
        feature_key=f.feature_key,
        booked_from=_instant(f.booked_from, "bookedFrom"),
        booked_before=_instant(f.booked_before, "bookedBefore"),
    )


def _instant(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else checked_instant(value, name)


@strawberry.type(description="One use of credits (a charge), drawn from one or more grants.")
class CreditConsumption(Node):
    id: strawberry.ID = strawberry.field(description="The consumption's global id.")
    customer_id: strawberry.Private[str]
    key: str = strawberry.field(description="The caller's unique reference for it.")
    currency: str = strawberry.field(description="The credit currency drawn.")
    feature_key: str | None = strawberry.field(
        description="The feature the credits were used for, if any."
    )
    description: str | None = strawberry.field(description="Free text from the caller.")
    raw_labels: strawberry.Private[Any]
    labels: list[Label] = strawberry.field(resolver=stored_labels, description=LABELS)
    requested: Decimal = strawberry.field(description="The amount asked for.")
    consumed: Decimal = strawberry.field(description="What was drawn when it was consumed.")
    shortfall: Decimal = strawberry.field(
        description="What could not be drawn: above zero only for a PARTIAL consumption."
    )
    reversed: Decimal = strawberry.field(
        description="What has been given back by reversals so far."
    )
    created_at: datetime = strawberry.field(description="When the consumption was booked.")

    @strawberry.field(description="Whose credits were drawn.")
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
            raw_labels=row.labels,
            requested=from_minor(row.requested, scale),
            consumed=from_minor(row.consumed, scale),
            shortfall=from_minor(row.shortfall, scale),
            reversed=from_minor(row.reversed, scale),
            created_at=row.created_at,
        )
