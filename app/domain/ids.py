"""Opaque, typed, sortable ids: a type prefix and a ULID ("grt_01J9…")."""

from __future__ import annotations

import re

from ulid import ULID

PREFIXES = {
    "customer": "cus",
    "grant": "grt",
    "consumption": "csm",
    "entry": "ent",
    "transaction": "txn",
    "reversal": "rev",
    "api_key": "key",
    "schedule": "sch",
    "threshold": "thr",
    "threshold_event": "the",
    "webhook_endpoint": "whe",
    "webhook_delivery": "whd",
    "webhook_event": "msg",
}
ID_PATTERN = re.compile(r"^([a-z]{3})_([0-9A-HJKMNP-TV-Z]{26})\Z")


def new_id(kind: str) -> str:
    return f"{PREFIXES[kind]}_{ULID()}"


def kind_of(id: str) -> str | None:
    """The kind an id names, or None if it is malformed."""
    match = ID_PATTERN.fullmatch(id)
    if not match:
        return None
    for kind, prefix in PREFIXES.items():
        if prefix == match.group(1):
            return kind
    return None
