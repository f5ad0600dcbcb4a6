"""DESIGN §17's hash chain, written again from its words for the tests: SHA-256 (lower-case
hex) of the previous entry's hash followed by the canonical JSON of the entry's immutable
fields (keys sorted, no spaces, UTF-8; amounts as integers of smallest units; bookedAt
RFC 3339 in UTC with microseconds and Z). Deliberately not the server's code."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

ZEROS = "0" * 64


def entry_hash(previous: str, fields: Mapping[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((previous + canonical).encode("utf-8")).hexdigest()


def rfc3339_micro(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def minor(amount: str, scale: int) -> int:
    units = Decimal(amount).scaleb(scale)
    assert units == units.to_integral_value()
    return int(units)


def exported_fields(record: Mapping[str, Any], scale: int) -> dict[str, Any]:
    """The hashed fields of one `credits export-ledger` JSON line."""
    return {
        "id": record["id"],
        "transactionId": record["transactionId"],
        "customerId": record["customerId"],
        "currency": record["currency"],
        "sequence": record["sequence"],
        "type": record["type"],
        "amount": minor(record["amount"], scale),
        "balanceBefore": minor(record["balanceBefore"], scale),
        "balanceAfter": minor(record["balanceAfter"], scale),
        "grantId": record["grantId"],
        "consumptionId": record["consumptionId"],
        "actorType": record["actorType"],
        "actorName": record["actorName"],
        "bookedAt": rfc3339_micro(datetime.fromisoformat(record["bookedAt"])),
        "featureKey": record["featureKey"],
        "description": record["description"],
    }


COLUMNS = {  # each hashed field and the ledger_entry column it is stored in
    "id": "id", "transactionId": "transaction_id", "customerId": "customer_id",
    "currency": "currency", "sequence": "sequence", "type": "type", "amount": "amount",
    "balanceBefore": "balance_before", "balanceAfter": "balance_after",
    "grantId": "grant_id", "consumptionId": "consumption_id", "actorType": "actor_type",
    "actorName": "actor_name", "bookedAt": "booked_at", "featureKey": "feature_key",
    "description": "description",
}  # fmt: skip


def row_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of a ledger_entry row (a missing nullable column is null)."""
    fields = {key: row.get(column) for key, column in COLUMNS.items()}
    fields["bookedAt"] = rfc3339_micro(row["booked_at"])
    return fields


def chain_rows(rows: list[dict[str, Any]]) -> str:
    """Give rows of one ledger (in sequence order) their hashes; the last one's hash."""
    previous = ZEROS
    for row in rows:
        previous = row["hash"] = entry_hash(previous, row_fields(row))
    return previous


def recomputed(records: Iterable[Mapping[str, Any]], scales: Mapping[str, int]) -> list[str]:
    """Each exported entry's hash recomputed along its ledger (records in export order)."""
    hashes, ledger, previous, sequence = [], None, ZEROS, 0
    for record in records:
        if (record["customerId"], record["currency"]) != ledger:
            ledger, previous, sequence = (record["customerId"], record["currency"]), ZEROS, 0
        sequence += 1
        assert record["sequence"] == sequence, record  # a whole ledger, in order
        previous = entry_hash(previous, exported_fields(record, scales[record["currency"]]))
        hashes.append(previous)
    return hashes
