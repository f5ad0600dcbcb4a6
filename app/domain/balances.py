"""Balance figures of one customer in one currency at one instant, in smallest units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Balance:
    customer_id: str
    currency: str
    at: datetime
    feature_key: str | None
    available: int = 0
    pending: int = 0
    funded: int = 0
    consumed: int = 0
    expired: int = 0
    voided: int = 0
    available_promotional: int = 0
    sequence: int = 0

    @property
    def available_paid(self) -> int:
        return self.available - self.available_promotional
