"""Read-side SQL: filters of customers, grants and ledger entries as conditions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, literal, not_, or_
from sqlalchemy.sql import ColumnElement

from app.storage.balances import can_pay_for
from app.storage.tables import customer_labels, customers, entries, grants
from app.storage.types import UTCDateTime

NEVER = datetime(9999, 12, 31, tzinfo=UTC)
expires_or_never = func.coalesce(grants.c.expires_at, literal(NEVER, UTCDateTime()))


def customer_conditions(
    key: str | None, name_contains: str | None, labels: Sequence[tuple[str, str]] | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if key is not None:
        conditions.append(customers.c.key == key)
    if name_contains is not None:
        needle = name_contains.casefold()
        conditions.append(customers.c.folded_name.contains(needle, autoescape=True))
    for label_key, value in labels or ():
        conditions.append(
            exists().where(
                customer_labels.c.customer_id == customers.c.id,
                customer_labels.c.key == label_key,
                customer_labels.c.value == value,
            )
        )
    return conditions


def status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    """The SQL form of a grant's status at `now` (docs/concepts.md, "Grants"), for a
    caught-up grant."""
    live = grants.c.voided_at.is_(None)
    expired_by_now = and_(grants.c.expires_at.is_not(None), grants.c.expires_at <= now)
    unexpired = not_(expired_by_now)
    funded = and_(grants.c.funded_at.is_not(None), grants.c.funded_at <= now)
    forfeited = or_(grants.c.expired > 0, not_(funded))
    conditions: dict[str, ColumnElement[bool]] = {
        "VOIDED": not_(live),
        "EXPIRED": and_(live, expired_by_now, forfeited),
        "PENDING": and_(live, unexpired, not_(funded)),
        "DEPLETED": and_(
            live,
            funded,
            or_(
                and_(expired_by_now, grants.c.expired == 0),
                and_(unexpired, grants.c.remaining == 0),
            ),
        ),
        "ACTIVE": and_(live, funded, unexpired, grants.c.remaining > 0),
    }
    return conditions[status]


def grant_conditions(query: Any, now: datetime) -> list[ColumnElement[bool]]:
    """Conditions of a grant filter (an object with the GrantQuery attributes)."""
    conditions: list[ColumnElement[bool]] = []
    if query.statuses is not None:
        conditions.append(or_(false(), *[status_condition(s, now) for s in query.statuses]))
    if query.currency is not None:
        conditions.append(grants.c.currency == query.currency)
    if query.funding_methods is not None:
        conditions.append(grants.c.funding_method.in_(query.funding_methods))
    if query.settlement_statuses is not None:
        conditions.append(grants.c.settlement_status.in_(query.settlement_statuses))
    if query.key is not None:
        conditions.append(grants.c.key == query.key)
    if query.feature_key is not None:
        conditions.append(can_pay_for(query.feature_key))
    return conditions


def ledger_conditions(query: Any) -> list[ColumnElement[bool]]:
    """Conditions of a ledger filter (an object with the LedgerQuery attributes)."""
    conditions: list[ColumnElement[bool]] = []
    if query.types is not None:
        conditions.append(entries.c.type.in_(query.types))
    if query.currency is not None:
        conditions.append(entries.c.currency == query.currency)
    if query.grant_id is not None:
        conditions.append(entries.c.grant_id == query.grant_id)
    if query.feature_key is not None:
        conditions.append(
            exists().where(grants.c.id == entries.c.grant_id, can_pay_for(query.feature_key))
        )
    if query.booked_from is not None:
        conditions.append(entries.c.booked_at >= query.booked_from)
    if query.booked_before is not None:
        conditions.append(entries.c.booked_at < query.booked_before)
    return conditions
