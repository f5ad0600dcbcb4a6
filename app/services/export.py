"""The ledger export (docs/operations.md): every matching entry as JSON Lines or CSV.

One snapshot for the whole export (REPEATABLE READ on PostgreSQL, one read transaction on
SQLite), so writers may go on meanwhile and the file still balances. Rows are formatted
as they arrive, a chunk of lines at a time: memory does not grow with the ledger.
Amounts are decimal strings at the currency's scale; instants RFC 3339 in UTC; `hash` is
the entry's link in its ledger's hash chain (docs/tamper-evidence.md).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncGenerator, Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.money import from_minor
from app.domain.time import format_instant
from app.services.currencies import CurrencyCatalog
from app.services.verify import snapshot
from app.storage.export import ExportFilter, count_entries, currencies_of, stream_entries

FIELDS = (
    "id",
    "transactionId",
    "customerId",
    "customerKey",
    "currency",
    "sequence",
    "type",
    "amount",
    "balanceBefore",
    "balanceAfter",
    "grantId",
    "fundingMethod",
    "perUnitCostBasis",
    "purchaseCurrency",
    "consumptionId",
    "consumptionKey",
    "actorType",
    "actorId",
    "actorName",
    "bookedAt",
    "createdAt",
    "featureKey",
    "description",
    "labels",
    "hash",
)


# One encoder: json.dumps with options would build a new one for every entry.
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


Chunk = tuple[str, int]  # text, and how many entries it holds


async def export_ledger(
    engine: AsyncEngine,
    catalog: CurrencyCatalog,
    which: ExportFilter,
    form: ExportFormat,
    *,
    on_total: Callable[[int], None] | None = None,
) -> AsyncGenerator[Chunk, None]:
    """The export's text in chunks; `on_total` first hears how many entries it holds."""
    async with snapshot(engine) as connection:
        scales = await _scales(catalog, await currencies_of(connection, which))
        if on_total is not None:
            on_total(await count_entries(connection, which))
        render = _csv if form is ExportFormat.CSV else _json_lines
        if form is ExportFormat.CSV:
            yield _csv([dict(zip(FIELDS, FIELDS, strict=True))]), 0
        async for rows in stream_entries(connection, which):
            yield render([record(row, scales) for row in rows]), len(rows)


async def _scales(catalog: CurrencyCatalog, codes: set[str]) -> dict[str, int]:
    found = await catalog.get_many(codes)
    return {code: currency.scale for code, currency in found.items()}


def record(row: Any, scales: dict[str, int]) -> dict[str, Any]:
    """One entry's fields in FIELDS order: amounts as exact decimal strings."""
    (
        entry_id, transaction_id, customer_id, customer_key, currency, sequence, kind,
        amount, before, after, grant_id, funding_method, cost_basis, purchase_currency,
        consumption_id, consumption_key, actor_type, actor_id, actor_name, booked_at,
        created_at, feature_key, description, labels, hash,
    ) = row  # fmt: skip
    scale = scales[currency]
    return {
        "id": entry_id,
        "transactionId": transaction_id,
        "customerId": customer_id,
        "customerKey": customer_key,
        "currency": currency,
        "sequence": sequence,
        "type": kind,
        "amount": _amount(amount, scale),
        "balanceBefore": _amount(before, scale),
        "balanceAfter": _amount(after, scale),
        "grantId": grant_id,
        "fundingMethod": funding_method,
        "perUnitCostBasis": None if cost_basis is None else format(Decimal(cost_basis), "f"),
        "purchaseCurrency": purchase_currency,
        "consumptionId": consumption_id,
        "consumptionKey": consumption_key,
        "actorType": actor_type,
        "actorId": actor_id,
        "actorName": actor_name,
        "bookedAt": format_instant(booked_at),
        "createdAt": format_instant(created_at),
        "featureKey": feature_key,
        "description": description,
        "labels": dict(labels),
        "hash": hash,
    }


def _amount(minor: int, scale: int) -> str:
    return format(from_minor(minor, scale), "f")


def _json_lines(records: list[dict[str, Any]]) -> str:
    return "".join(f"{_json(r)}\n" for r in records)


def _csv(records: list[dict[str, Any]]) -> str:
    """CSV records (RFC 4180 quoting, \\r\\n): null as empty, labels as JSON text."""
    out = io.StringIO()
    csv.writer(out).writerows([_cell(value) for value in r.values()] for r in records)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return _json(value)
    return str(value)
