"""Balances derived from the ledger (and pending amounts from the grants), in two statements
for any number of customers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.domain.balances import Balance
from app.storage.tables import entries, grant_features, grants

BalanceKey = tuple[str, str]


def can_pay_for(feature_key: str | None) -> ColumnElement[bool]:
    """Grants whose credits can pay for the feature: unrestricted ones and those listing it."""
    if feature_key is None:
        return grants.c.id.is_not(None)
    listed = exists().where(
        grant_features.c.grant_id == grants.c.id, grant_features.c.feature == feature_key
    )
    return or_(not_(grants.c.restricted), listed)


def pending_at(at: datetime) -> ColumnElement[bool]:
    return and_(
        or_(grants.c.funded_at.is_(None), grants.c.funded_at > at),
        or_(grants.c.voided_at.is_(None), grants.c.voided_at > at),
        or_(grants.c.expires_at.is_(None), grants.c.expires_at > at),
    )


def _sum(condition: ColumnElement[bool], value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


async def read_balances(
    connection: AsyncConnection,
    customer_ids: Sequence[str],
    at: datetime,
    feature_key: str | None,
    currency: str | None = None,
    through_sequence: int | None = None,
) -> dict[BalanceKey, Balance]:
    """Every balance of these customers at `at`, one per currency they have grants in.

    With a currency and `through_sequence`, the ledger figures stop at that entry: the
    balance as of one change, however many changes followed it.
    """
    ok = can_pay_for(feature_key)
    kind = entries.c.type
    ledger = (
        select(
            entries.c.customer_id,
            entries.c.currency,
            func.max(entries.c.sequence).label("sequence"),
            _sum(ok, entries.c.amount).label("available"),
            _sum(and_(ok, kind == "FUNDED"), entries.c.amount).label("funded"),
            _sum(and_(ok, kind.in_(["CONSUMED", "RESTORED"])), -entries.c.amount).label("consumed"),
            _sum(and_(ok, kind == "EXPIRED"), -entries.c.amount).label("expired"),
            _sum(and_(ok, kind == "VOIDED"), -entries.c.amount).label("voided"),
            _sum(and_(ok, entries.c.funding_method == "NONE"), entries.c.amount).label(
                "promotional"
            ),
        )
        .join(grants, grants.c.id == entries.c.grant_id)
        .where(entries.c.customer_id.in_(customer_ids), entries.c.booked_at <= at)
        .group_by(entries.c.customer_id, entries.c.currency)
    )
    pending = (
        select(
            grants.c.customer_id,
            grants.c.currency,
            _sum(and_(ok, pending_at(at)), grants.c.amount).label("pending"),
        )
        .where(grants.c.customer_id.in_(customer_ids), grants.c.created_at <= at)
        .group_by(grants.c.customer_id, grants.c.currency)
    )
    if currency is not None:
        ledger = ledger.where(entries.c.currency == currency)
        pending = pending.where(grants.c.currency == currency)
        if through_sequence is not None:
            ledger = ledger.where(entries.c.sequence <= through_sequence)
    figures: dict[BalanceKey, dict[str, int]] = {}
    for row in await connection.execute(pending):
        figures[(row.customer_id, row.currency)] = {"pending": int(row.pending)}
    for row in await connection.execute(ledger):
        values = {name: int(row._mapping[name]) for name in LEDGER_FIGURES}
        figures.setdefault((row.customer_id, row.currency), {}).update(values)
    return {
        key: balance_of(key, at, feature_key, values) for key, values in sorted(figures.items())
    }


LEDGER_FIGURES = ("sequence", "available", "funded", "consumed", "expired", "voided", "promotional")


def balance_of(
    key: BalanceKey, at: datetime, feature_key: str | None, values: dict[str, int]
) -> Balance:
    return Balance(
        customer_id=key[0],
        currency=key[1],
        at=at,
        feature_key=feature_key,
        available=values.get("available", 0),
        pending=values.get("pending", 0),
        funded=values.get("funded", 0),
        consumed=values.get("consumed", 0),
        expired=values.get("expired", 0),
        voided=values.get("voided", 0),
        available_promotional=values.get("promotional", 0),
        sequence=values.get("sequence", 0),
    )


def empty_balance(
    customer_id: str, currency: str, at: datetime, feature_key: str | None
) -> Balance:
    return Balance(customer_id, currency, at, feature_key)


async def read_balance(
    connection: AsyncConnection,
    customer_id: str,
    currency: str,
    at: datetime,
    through_sequence: int | None = None,
) -> Balance:
    """One customer's balance in one currency (all zeros if it never had any)."""
    found = await read_balances(
        connection, [customer_id], at, None, currency, through_sequence=through_sequence
    )
    return found.get((customer_id, currency)) or empty_balance(customer_id, currency, at, None)
