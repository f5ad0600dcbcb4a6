"""Event bodies: the object an event reports, with every scalar and enum field the API
shows, named as in the schema; amounts as decimal strings, instants in ISO 8601 UTC.

Built from rows (or the values a row was written with), so the outbox costs no reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.money import from_minor
from app.domain.time import format_instant
from app.storage.mapping import grant_from_row

Row = Mapping[str, Any]


def body(event_id: str, type: str, at: datetime, customer_id: str, data: dict[str, Any]) -> str:
    envelope = {
        "id": event_id,
        "type": type,
        "occurredAt": format_instant(at),
        "customerId": customer_id,
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return format_instant(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def grant(row: Row, scales: Mapping[str, int], now: datetime) -> dict[str, Any]:
    scale = scales[row["currency"]]
    return {
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "description": row["description"],
        "labels": _labels(row["labels"]),
        "currency": row["currency"],
        "fundingMethod": row["funding_method"],
        "purchase": _purchase(row, scales),
        "priority": row["priority"],
        "features": list(row["features"]),
        "effectiveAt": row["effective_at"],
        "expiresAt": row["expires_at"],
        "voidedAt": row["voided_at"],
        "voidReason": row["void_reason"],
        "status": grant_from_row(_Attributes(row)).status(now).value,  # type: ignore[arg-type]
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        **{name: from_minor(row[name], scale) for name in AMOUNTS},
    }


AMOUNTS = ("amount", "remaining", "consumed", "expired", "voided")


def _purchase(row: Row, scales: Mapping[str, int]) -> dict[str, Any] | None:
    if row["purchase_currency"] is None:
        return None
    return {
        "currency": row["purchase_currency"],
        "perUnitCostBasis": Decimal(row["cost_basis"]),
        "amount": from_minor(row["purchase_amount"], scales[row["purchase_currency"]]),
        "availabilityPolicy": row["availability_policy"],
        "settlementStatus": row["settlement_status"],
        "paymentReference": row["payment_reference"],
        "authorizedAt": row["authorized_at"],
        "settledAt": row["settled_at"],
        "failedAt": row["failed_at"],
    }


def consumption(row: Row, entries: list[Row], scale: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key": row["key"],
        "currency": row["currency"],
        "featureKey": row["feature_key"],
        "description": row["description"],
        "labels": _labels(row["labels"]),
        "requested": from_minor(row["requested"], scale),
        "consumed": from_minor(row["consumed"], scale),
        "shortfall": from_minor(row["shortfall"], scale),
        "reversed": from_minor(row["reversed"], scale),
        "createdAt": row["created_at"],
        "entries": [entry(e, scale) for e in entries],
    }


def entry(row: Row, scale: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "currency": row["currency"],
        "amount": from_minor(row["amount"], scale),
        "availableBalanceBefore": from_minor(row["balance_before"], scale),
        "availableBalanceAfter": from_minor(row["balance_after"], scale),
        "sequence": row["sequence"],
        "bookedAt": row["booked_at"],
        "createdAt": row["created_at"],
        "transactionId": row["transaction_id"],
        "actor": {"type": row["actor_type"], "id": row["actor_id"], "name": row["actor_name"]},
        "featureKey": row["feature_key"],
        "description": row["description"],
        "labels": _labels(row["labels"]),
        "hash": row["hash"],
    }


def threshold_event(row: Row, scale: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "sequence": row["sequence"],
        "availableBefore": from_minor(row["available_before"], scale),
        "availableAfter": from_minor(row["available_after"], scale),
        "occurredAt": row["occurred_at"],
    }


def _labels(stored: str | list[list[str]]) -> list[dict[str, str]]:
    pairs = json.loads(stored) if isinstance(stored, str) else stored
    return [{"key": key, "value": value} for key, value in pairs]


class _Attributes:
    """A mapping read as attributes, for the row-to-domain mapping."""

    def __init__(self, row: Row) -> None:
        self.row = row

    def __getattr__(self, name: str) -> Any:
        return self.row[name]
