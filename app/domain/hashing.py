"""The ledger's hash chain (docs/tamper-evidence.md): each entry's hash covers the previous one's.

`sha256(previousHashHex + canonicalJson)`, where the canonical JSON holds the entry's
immutable fields, keys sorted, no spaces, UTF-8 text unescaped. orjson writes exactly
that (the same bytes as `json.dumps(..., sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`) in a tenth of the time; stored text never holds a lone surrogate
(validation refuses it), which orjson alone would refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64  # the "previous hash" of sequence 1

# Each hashed JSON key and the ledger_entry column it comes from.
FIELDS = {
    "id": "id",
    "transactionId": "transaction_id",
    "customerId": "customer_id",
    "currency": "currency",
    "sequence": "sequence",
    "type": "type",
    "amount": "amount",
    "balanceBefore": "balance_before",
    "balanceAfter": "balance_after",
    "grantId": "grant_id",
    "consumptionId": "consumption_id",
    "actorType": "actor_type",
    "actorName": "actor_name",
    "bookedAt": "booked_at",
    "featureKey": "feature_key",
    "description": "description",
}
COLUMNS = tuple(FIELDS.values())


def hash_instant(instant: datetime) -> str:
    """RFC 3339 in UTC with microseconds and `Z`, always six digits."""
    text = instant.astimezone(UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def link(previous: str, columns: Mapping[str, Any]) -> str:
    """The hash of an entry given as its column values (a row's mapping or insert values)."""
    document = {key: columns[column] for key, column in FIELDS.items()}
    document["bookedAt"] = hash_instant(document["bookedAt"])
    document["type"] = str(document["type"])
    document["actorType"] = str(document["actorType"])
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(previous.encode() + canonical).hexdigest()
