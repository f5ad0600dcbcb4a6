"""CreditThreshold, its top-up and its events; the threshold enums are the domain's."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types import Info

from app.api.common import Node, schema_enum
from app.api.context import Context
from app.api.grants import CreditGrant, CreditPurchase
from app.api.ledger import CreditLedgerEntry
from app.api.pagination import After, Before, Connection, First, Last
from app.api.scalars import Duration
from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.domain.money import from_minor
from app.domain.thresholds import ThresholdEventType, ThresholdState
from app.domain.time import parse_duration

if TYPE_CHECKING:
    from app.api.customers import Customer

schema_enum(
    ThresholdState,
    "CreditThresholdState",
    "Whether a threshold's watched balance is at or above `below` (ARMED), under it "
    "(CROSSED), or whether it was deleted.",
    ARMED="Available is at or above `below`: the next drop under it is a crossing.",
    CROSSED="Available dropped under `below` and has not come back to it yet.",
    DELETED="Deleted: it will never fire again.",
)
schema_enum(
    ThresholdEventType,
    "CreditThresholdEventType",
    "CROSSED: the watched balance dropped under `below`; RECOVERED: it came back to it.",
    CROSSED="The watched balance dropped under `below`.",
    RECOVERED="The watched balance came back to `below` or above after a crossing.",
)
CreditThresholdState = ThresholdState
CreditThresholdEventType = ThresholdEventType


@strawberry.type(description="What each crossing of a threshold buys, as purchaseCredits would.")
class CreditTopUp:
    amount: Decimal = strawberry.field(description="Credits bought on each crossing.")
    funding_method: FundingMethod = strawberry.field(description="INVOICE or EXTERNAL.")
    purchase: CreditPurchase = strawberry.field(
        description="The payment terms of each top-up, as it is created."
    )
    priority: int = strawberry.field(description="The bought grant's priority.")
    features: list[str] = strawberry.field(
        description="The features the bought credits can pay for; empty for any."
    )
    expires_after: Duration | None = strawberry.field(
        description="How long the bought credits last; null: they never expire."
    )

    @classmethod
    def from_row(cls, row: Any, scales: dict[str, int]) -> CreditTopUp | None:
        if row.top_up_amount is None:
            return None
        purchase = CreditPurchase(
            currency=row.top_up_purchase_currency,
            per_unit_cost_basis=Decimal(row.top_up_cost_basis),
            amount=from_minor(row.top_up_price, scales[row.top_up_purchase_currency]),
            availability_policy=AvailabilityPolicy(row.top_up_availability_policy),
            settlement_status=SettlementStatus(row.top_up_settlement_status),
            payment_reference=row.top_up_payment_reference,
            authorized_at=None,
            settled_at=None,
            failed_at=None,
        )
        expires_after = row.top_up_expires_after
        return cls(
            amount=from_minor(row.top_up_amount, scales[row.currency]),
            funding_method=FundingMethod(row.top_up_funding_method),
            purchase=purchase,
            priority=row.top_up_priority,
            features=list(row.top_up_features or ()),
            expires_after=None
            if expires_after is None
            else Duration(parse_duration(expires_after)),
        )


@strawberry.type(
    description="A watch on one customer's available balance in one currency: each drop "
    "under `below` records a CROSSED event (and buys its top-up), each return a RECOVERED one."
)
class CreditThreshold(Node):
    id: strawberry.ID = strawberry.field(description="The threshold's id (`thr_…`).")
    customer_id: strawberry.Private[str]
    key: str | None = strawberry.field(description="The caller's unique reference, if given.")
    name: str = strawberry.field(description="Its name, for people.")
    currency: str = strawberry.field(description="The currency whose balance it watches.")
    feature_key: str | None = strawberry.field(
        description="Only grants that can pay for this feature count toward the watched balance."
    )
    below: Decimal = strawberry.field(
        description="The threshold: a drop of the available balance from at least this to "
        "less than this is a crossing."
    )
    top_up: CreditTopUp | None = strawberry.field(
        description="When set, every crossing buys these credits in the same transaction."
    )
    state: ThresholdState = strawberry.field(description="ARMED, CROSSED or DELETED.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @strawberry.field(description="The customer whose balance it watches.")
    def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.api.customers")]:
        return cast("Customer", info.context.loaders.customer_soon(self.customer_id))

    @strawberry.field(
        description="This threshold's events (crossings and recoveries), oldest first."
    )
    async def crossings(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> CreditThresholdEventConnection:
        return await info.context.loaders.threshold_events(
            "threshold", self.id, self.customer_id, None, first, after, last, before
        )

    @classmethod
    def from_row(cls, row: Any, scales: dict[str, int]) -> CreditThreshold:
        return cls(
            id=strawberry.ID(row.id),
            customer_id=row.customer_id,
            key=row.key,
            name=row.name,
            currency=row.currency,
            feature_key=row.feature_key,
            below=from_minor(row.below, scales[row.currency]),
            top_up=CreditTopUp.from_row(row, scales),
            state=ThresholdState(row.state),
            created_at=row.created_at,
        )


@strawberry.type(description="A threshold crossed or recovered, in the transaction that did it.")
class CreditThresholdEvent(Node):
    id: strawberry.ID = strawberry.field(description="The event's id (`the_…`).")
    threshold_id: strawberry.Private[str]
    entry_id: strawberry.Private[str]
    top_up_grant_id: strawberry.Private[str | None]
    type: ThresholdEventType = strawberry.field(description="CROSSED or RECOVERED.")
    sequence: int = strawberry.field(
        description="Position among the customer's threshold events in this currency: "
        "1, 2, 3, ... with no gaps."
    )
    available_before: Decimal = strawberry.field(
        description="The watched available balance before the transaction that caused the event."
    )
    available_after: Decimal = strawberry.field(
        description="The watched available balance after the transaction that caused the event."
    )
    occurred_at: datetime = strawberry.field(
        description="When the entry that caused it was booked."
    )

    @strawberry.field(description="The threshold that fired.")
    async def threshold(self, info: Info[Context, None]) -> CreditThreshold:
        return await info.context.loaders.threshold(self.threshold_id)

    @strawberry.field(description="The ledger entry whose booking caused the event.")
    async def entry(self, info: Info[Context, None]) -> CreditLedgerEntry:
        found = await info.context.loaders.entry(self.entry_id)
        assert found is not None
        return found

    @strawberry.field(
        description="The grant bought by the threshold's top-up, on CROSSED events of "
        "thresholds that have one."
    )
    async def top_up_grant(self, info: Info[Context, None]) -> CreditGrant | None:
        if self.top_up_grant_id is None:
            return None
        return await info.context.loaders.maybe_grant(self.top_up_grant_id)

    @classmethod
    def from_row(cls, row: Any, scales: dict[str, int]) -> CreditThresholdEvent:
        scale = scales[row.currency]
        return cls(
            id=strawberry.ID(row.id),
            threshold_id=row.threshold_id,
            entry_id=row.entry_id,
            top_up_grant_id=row.top_up_grant_id,
            type=ThresholdEventType(row.type),
            sequence=row.sequence,
            available_before=from_minor(row.available_before, scale),
            available_after=from_minor(row.available_after, scale),
            occurred_at=row.occurred_at,
        )


CreditThresholdEventConnection = Connection[CreditThresholdEvent]
