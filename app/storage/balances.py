"""Balances from maintained figures: a few index seeks per ledger, however long it is.

Each ledger entry carries its ledger's running figures after it, and `scope_figure` those
of the restricted grants' scopes. As of an instant T (and a sequence S) a ledger stands at
its last entry booked at or before T, capped at S: one seek, since bookedAt never decreases
along the sequence. The figures there are that entry's; with a feature, every grant's minus
the restricted grants' plus the feature's (one seek each). Pending amounts come from the
grants not funded at T: a range of an index, not the customer's whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, not_, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.domain.balances import Balance
from app.domain.ledger import RESTRICTED, Figures
from app.storage.tables import accounts, entries, grant_features, grants, scope_figures

BalanceKey = tuple[str, str]
ENTRY_FIGURES = (
    "balance_after",
    "funded_after",
    "consumed_after",
    "expired_after",
    "voided_after",
    "promotional_after",
)
SCOPE_FIGURES = ("available", "funded", "consumed", "expired", "voided", "promotional")


def can_pay_for(feature_key: str | None) -> ColumnElement[bool]:
    """Grants whose credits can pay for the feature: unrestricted ones and those listing it."""
    if feature_key is None:
        return grants.c.id.is_not(None)
    listed = exists().where(
        grant_features.c.grant_id == grants.c.id, grant_features.c.feature == feature_key
    )
    return or_(not_(grants.c.restricted), listed)


def pending_at(at: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return and_(
        or_(grants.c.funded_at.is_(None), grants.c.funded_at > at),
        or_(grants.c.voided_at.is_(None), grants.c.voided_at > at),
        or_(grants.c.expires_at.is_(None), grants.c.expires_at > at),
    )


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
    pending: dict[BalanceKey, int] = {}
    for row in await connection.execute(_pending(customer_ids, at, feature_key, currency)):
        pending[(row.customer_id, row.currency)] = int(row.pending)
    ledgers: dict[BalanceKey, tuple[int, Figures]] = {}
    statement = _ledgers(customer_ids, at, feature_key, currency, through_sequence)
    for row in await connection.execute(statement):
        if row.booked:  # a ledger with entries booked by `at`
            ledgers[(row.customer_id, row.currency)] = (int(row.sequence), _figures(row))
    return {
        key: _balance(key, at, feature_key, pending.get(key, 0), *ledgers.get(key, (0, Figures())))
        for key in sorted(pending.keys() | ledgers.keys())
    }


def _pending(
    customer_ids: Sequence[str], at: datetime, feature_key: str | None, currency: str | None
) -> Select[Any]:
    """Pending amounts from the grants not funded at `at` (never funded, or funded later):
    two ranges of one index. A currency with a grant created by `at` is in them or has an
    entry booked by then."""
    pending = case((and_(can_pay_for(feature_key), pending_at(at)), grants.c.amount), else_=0)
    grant = select(grants.c.customer_id, grants.c.currency, pending.label("pending"))
    grant = grant.where(grants.c.customer_id.in_(customer_ids), grants.c.created_at <= at)
    if currency is not None:
        grant = grant.where(grants.c.currency == currency)
    unfunded = union_all(
        grant.where(grants.c.funded_at.is_(None)), grant.where(grants.c.funded_at > at)
    ).subquery("unfunded")
    return select(
        unfunded.c.customer_id, unfunded.c.currency, func.sum(unfunded.c.pending).label("pending")
    ).group_by(unfunded.c.customer_id, unfunded.c.currency)


def _ledgers(
    customer_ids: Sequence[str],
    at: datetime,
    feature_key: str | None,
    currency: str | None,
    through_sequence: int | None,
) -> Select[Any]:
    """Each ledger's sequence as of `at` (and `through_sequence`) and its figures there."""
    marks = _marks(customer_ids, at, feature_key, currency, through_sequence)
    same = and_(
        entries.c.customer_id == marks.c.customer_id, entries.c.currency == marks.c.currency
    )
    joined = marks.outerjoin(entries, and_(same, entries.c.sequence == marks.c.sequence))
    columns = [marks.c.customer_id, marks.c.currency, marks.c.booked, marks.c.sequence]
    columns += [entries.c[name] for name in ENTRY_FIGURES]
    if feature_key is not None:
        for name in ("restricted", "feature"):
            scope = scope_figures.alias(name)
            on = and_(
                scope.c.customer_id == marks.c.customer_id,
                scope.c.currency == marks.c.currency,
                scope.c.scope == (RESTRICTED if name == "restricted" else feature_key),
                scope.c.sequence == marks.c[name],
            )
            joined = joined.outerjoin(scope, on)
            columns += [scope.c[f].label(f"{name}_{f}") for f in SCOPE_FIGURES]
    return select(*columns).select_from(joined)


def _marks(
    customer_ids: Sequence[str],
    at: datetime,
    feature_key: str | None,
    currency: str | None,
    through_sequence: int | None,
) -> Any:
    """Per ledger: its last sequence as of the instant (and the cap), and with a feature the
    sequences of the last rows of the restricted scope and of the feature's at or before it."""
    marked = entries.alias("marked")
    last = (
        select(marked.c.sequence)
        .where(marked.c.customer_id == accounts.c.customer_id)
        .where(marked.c.currency == accounts.c.currency, marked.c.booked_at <= at)
        .order_by(marked.c.booked_at.desc(), marked.c.sequence.desc())
        .limit(1)
        .scalar_subquery()
    )
    ledgers = select(
        accounts.c.customer_id, accounts.c.currency, func.coalesce(last, 0).label("last")
    ).where(accounts.c.customer_id.in_(customer_ids))
    if currency is not None:
        ledgers = ledgers.where(accounts.c.currency == currency)
    ledger = ledgers.subquery("ledger")
    sequence: ColumnElement[int] = ledger.c.last
    if through_sequence is not None:
        sequence = case((ledger.c.last < through_sequence, ledger.c.last), else_=through_sequence)
    columns = [ledger.c.customer_id, ledger.c.currency, ledger.c.last.label("booked")]
    columns.append(sequence.label("sequence"))
    if feature_key is not None:
        columns.append(_scope_mark(ledger, sequence, RESTRICTED).label("restricted"))
        columns.append(_scope_mark(ledger, sequence, feature_key).label("feature"))
    return select(*columns).subquery("mark")


def _scope_mark(ledger: Any, sequence: ColumnElement[int], scope: str) -> Any:
    return (
        select(scope_figures.c.sequence)
        .where(scope_figures.c.customer_id == ledger.c.customer_id)
        .where(scope_figures.c.currency == ledger.c.currency, scope_figures.c.scope == scope)
        .where(scope_figures.c.sequence <= sequence)
        .order_by(scope_figures.c.sequence.desc())
        .limit(1)
        .scalar_subquery()
    )


def _figures(row: Any) -> Figures:
    """All grants' figures, or with a feature: all - restricted + the feature's."""
    found = Figures(*(int(getattr(row, name) or 0) for name in ENTRY_FIGURES))
    if "restricted_available" not in row._fields:
        return found
    restricted, feature = (
        Figures(*(int(getattr(row, f"{name}_{f}") or 0) for f in SCOPE_FIGURES))
        for name in ("restricted", "feature")
    )
    return found.minus(restricted).plus(feature)


def _balance(
    key: BalanceKey,
    at: datetime,
    feature_key: str | None,
    pending: int,
    sequence: int,
    figures: Figures,
) -> Balance:
    return Balance(
        customer_id=key[0],
        currency=key[1],
        at=at,
        feature_key=feature_key,
        available=figures.available,
        pending=pending,
        funded=figures.funded,
        consumed=figures.consumed,
        expired=figures.expired,
        voided=figures.voided,
        available_promotional=figures.promotional,
        sequence=sequence,
    )


def empty_balance(
    customer_id: str, currency: str, at: datetime, feature_key: str | None
) -> Balance:
    return Balance(customer_id, currency, at, feature_key)


async def read_pending(
    connection: AsyncConnection, customer_id: str, currency: str, at: datetime
) -> int:
    """The customer's pending amount in one currency at `at` (every feature's)."""
    rows = (await connection.execute(_pending([customer_id], at, None, currency))).all()
    return int(rows[0].pending) if rows else 0


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
