"""Change events: what a committed transaction changed, produced by services and
delivered by `app.live` (the in-memory broker, or PostgreSQL LISTEN/NOTIFY across
processes). A change from another process carries ids and sequences only (`entries` is
empty); subscribers read what they need from the database by sequence.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.ledger import Entry
from app.domain.webhooks import EventType


@dataclass(frozen=True)
class Change:
    """One change a webhook event reports, in the order its transaction made it. A grant's
    event is described from its row as committed; a consumption's carries the row it was
    written with (`row`) and its CONSUMED entries' rows (`entries`)."""

    type: EventType
    subject_id: str
    row: dict[str, Any] | None = None
    entries: tuple[dict[str, Any], ...] = ()


@dataclass
class Committed:
    """What a transaction changed, handed to the publisher after commit."""

    customer_id: str
    entries: list[Entry] = field(default_factory=list)
    grant_ids: set[str] = field(default_factory=set)
    currencies: set[str] = field(default_factory=set)
    at: datetime | None = None  # the instant of the change
    sequences: dict[str, int] = field(default_factory=dict)  # last sequence per changed ledger
    # the last threshold event's sequence per ledger where the change recorded some
    threshold_sequences: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)  # what webhooks report, in order
    # Computations subscribers share (one balance read per change, not one per subscriber).
    shared: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)
