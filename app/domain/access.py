"""Who is asking, and what they may do (docs/concepts.md, "Access")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.ledger import OPEN, Actor, ActorType


class Role(StrEnum):
    ADMIN = "ADMIN"
    WRITER = "WRITER"
    READER = "READER"


class ViewerKind(StrEnum):
    API_KEY = "API_KEY"
    PORTAL_TOKEN = "PORTAL_TOKEN"
    OPEN = "OPEN"


ADMIN_ONLY = {
    "createCustomCurrency",
    "createWebhookEndpoint",
    "updateWebhookEndpoint",
    "rotateWebhookSecret",
    "deleteWebhookEndpoint",
    "redeliverWebhookEvent",
}


@dataclass(frozen=True)
class Viewer:
    kind: ViewerKind
    name: str
    role: Role | None = None
    key_id: str | None = None
    customer_id: str | None = None  # the one customer a portal token may read
    expires_at: datetime | None = None  # a portal token's expiry: its WebSockets close then

    @property
    def actor(self) -> Actor:
        if self.kind is ViewerKind.API_KEY:
            return Actor(ActorType.API_KEY, self.key_id, self.name)
        return OPEN

    def may_mutate(self, mutation: str) -> bool:
        """ADMIN everything; WRITER all but ADMIN_ONLY; READER and portals nothing."""
        if self.role is Role.ADMIN:
            return True
        return self.role is Role.WRITER and mutation not in ADMIN_ONLY


OPEN_VIEWER = Viewer(ViewerKind.OPEN, "open", Role.ADMIN)
