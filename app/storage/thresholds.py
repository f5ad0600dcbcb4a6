"""Thresholds and their events on the write path: rows to domain objects and back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    Label,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.domain.ledger import RESTRICTED, Figures
from app.domain.thresholds import Threshold, ThresholdState, TopUp
from app.domain.time import format_duration, parse_duration
from app.storage.mapping import FIGURES
from app.storage.tables import accounts, scope_figures, threshold_events, thresholds

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


@cache
def watched_column(dialect: str) -> Label[Any]:
    """The ledger's undeleted thresholds (of `:customer_id` and `:currency`) as a JSON
    array, each with the latest figures of the restricted scope and of its feature's when
    it has one: read with the account (which the statement must select from), so a check
    that fires nothing reads nothing more. An index range, and two seeks per feature
    threshold; nothing for an account that counts none."""
    sqlite = dialect == "sqlite"
    as_json = func.json if sqlite else (lambda value: value)
    watched = thresholds.alias("watched")
    pairs: list[Any] = []
    for column in watched.c:
        if column.name not in ("key", "fingerprint", "updated_at", "deleted_at"):
            value = as_json(column) if column.name == "top_up_features" else column
            pairs += [_key(column.name), value]
    for name, scope in (("feature_figures", watched.c.feature_key), ("restricted", RESTRICTED)):
        pairs += [_key(name), as_json(_latest_figures(dialect, watched, scope))]
    objects = (func.json_object if sqlite else func.json_build_object)(*pairs)
    aggregate = func.json_group_array if sqlite else func.json_agg
    statement = select(aggregate(objects, type_=JSON())).where(
        watched.c.customer_id == bindparam("customer_id"),
        watched.c.currency == bindparam("currency"),
        watched.c.state != ThresholdState.DELETED.value,
    )
    # An account that counts no thresholds skips the lookup (NULL, read as none).
    counted = case((accounts.c.thresholds > 0, statement.scalar_subquery()), else_=null())
    return counted.label("watched")


def _key(name: str) -> Any:
    """A JSON object's key, written in the SQL: PostgreSQL cannot type a bound one there."""
    return literal_column(f"'{name}'")


def _latest_figures(dialect: str, watched: Any, scope: Any) -> Any:
    """The figures of the scope's last row as a JSON array, for a feature threshold."""
    array = func.json_array if dialect == "sqlite" else func.json_build_array
    return (
        select(array(*(scope_figures.c[name] for name in FIGURES)))
        .where(
            scope_figures.c.customer_id == watched.c.customer_id,
            scope_figures.c.currency == watched.c.currency,
            scope_figures.c.scope == scope,
            watched.c.feature_key.is_not(None),
        )
        .order_by(scope_figures.c.sequence.desc())
        .limit(1)
        .scalar_subquery()
    )


def watched_from_column(
    objects: list[dict[str, Any]] | None,
) -> tuple[list[Threshold], dict[str, Figures]]:
    """`watched_column`'s thresholds, oldest first, and the figures of their scopes."""
    found, scopes = [], {}
    for given in objects or ():
        created = datetime.fromisoformat(given["created_at"])
        given["created_at"] = (
            created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
        )
        threshold = threshold_from_row(SimpleNamespace(**given))
        found.append(threshold)
        if threshold.feature_key is not None:
            for scope, figures in (
                (RESTRICTED, "restricted"),
                (threshold.feature_key, "feature_figures"),
            ):
                scopes[scope] = Figures(*(int(f) for f in given[figures] or ()))
    found.sort(key=lambda t: (t.created_at, t.id))
    return found, scopes


def threshold_from_row(row: Any) -> Threshold:
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
