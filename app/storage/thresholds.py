"""Thresholds and their events on the write path: rows to domain objects and back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.domain.thresholds import Threshold, ThresholdState, TopUp
from app.domain.time import format_duration, parse_duration
from app.storage.tables import threshold_events, thresholds

_WATCHING = (
    select(thresholds)
    .where(
        thresholds.c.customer_id == bindparam("customer_id"),
        thresholds.c.currency == bindparam("currency"),
        thresholds.c.state != ThresholdState.DELETED.value,
    )
    .order_by(thresholds.c.created_at, thresholds.c.id)
)
_STATE = update(thresholds).where(thresholds.c.id == bindparam("threshold_id"))
_EVENT_INSERT = insert(threshold_events)


async def watching(connection: AsyncConnection, customer_id: str, currency: str) -> list[Threshold]:
    """The undeleted thresholds on one ledger, oldest first: one index range."""
    parameters = {"customer_id": customer_id, "currency": currency}
    return [threshold_from_row(row) for row in await connection.execute(_WATCHING, parameters)]


async def set_states(
    connection: AsyncConnection, changed: list[Threshold], values: dict[str, Any]
) -> None:
    rows = [{"threshold_id": t.id, "state": t.state.value, **values} for t in changed]
    await connection.execute(_STATE, rows)


async def insert_events(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await connection.execute(_EVENT_INSERT, rows)


def threshold_from_row(row: Row[Any]) -> Threshold:
    return Threshold(
        id=row.id,
        customer_id=row.customer_id,
        name=row.name,
        currency=row.currency,
        feature_key=row.feature_key,
        below=row.below,
        state=ThresholdState(row.state),
        top_up=top_up_from_row(row),
        created_at=row.created_at,
    )


def top_up_from_row(row: Any) -> TopUp | None:
    if row.top_up_amount is None:
        return None
    expires_after = row.top_up_expires_after
    return TopUp(
        amount=row.top_up_amount,
        funding_method=FundingMethod(row.top_up_funding_method),
        purchase_currency=row.top_up_purchase_currency,
        cost_basis=Decimal(row.top_up_cost_basis),
        price=row.top_up_price,
        availability_policy=AvailabilityPolicy(row.top_up_availability_policy),
        settlement_status=SettlementStatus(row.top_up_settlement_status),
        payment_reference=row.top_up_payment_reference,
        priority=row.top_up_priority,
        features=tuple(row.top_up_features or ()),
        expires_after=None if expires_after is None else parse_duration(expires_after),
    )


def top_up_values(top_up: TopUp | None) -> dict[str, Any]:
    if top_up is None:
        return {}
    return {
        "top_up_amount": top_up.amount,
        "top_up_funding_method": top_up.funding_method.value,
        "top_up_purchase_currency": top_up.purchase_currency,
        "top_up_cost_basis": str(top_up.cost_basis),
        "top_up_price": top_up.price,
        "top_up_availability_policy": top_up.availability_policy.value,
        "top_up_settlement_status": top_up.settlement_status.value,
        "top_up_payment_reference": top_up.payment_reference,
        "top_up_priority": top_up.priority,
        "top_up_features": list(top_up.features),
        "top_up_expires_after": None
        if top_up.expires_after is None
        else format_duration(top_up.expires_after),
    }
