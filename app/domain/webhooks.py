"""Webhooks (docs/webhooks.md): event types, delivery states, the retry schedule and the
Standard Webhooks signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS = 20
TIMEOUT = 10.0  # seconds an endpoint has to answer
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret keeps signing this long
# The wait before each retry, counted from the previous attempt; then FAILED.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=24),
)
ATTEMPTS = len(RETRY_DELAYS) + 1
RESPONSE_KEPT = 1024  # characters of an answer's body kept in the attempt log


class EventType(StrEnum):
    CREDIT_GRANT_CREATED = "CREDIT_GRANT_CREATED"
    CREDIT_GRANT_FUNDED = "CREDIT_GRANT_FUNDED"
    CREDIT_GRANT_SETTLEMENT_CHANGED = "CREDIT_GRANT_SETTLEMENT_CHANGED"
    CREDIT_GRANT_EXPIRED = "CREDIT_GRANT_EXPIRED"
    CREDIT_GRANT_VOIDED = "CREDIT_GRANT_VOIDED"
    CREDIT_CONSUMPTION_CREATED = "CREDIT_CONSUMPTION_CREATED"
    CREDIT_CONSUMPTION_REVERSED = "CREDIT_CONSUMPTION_REVERSED"
    CREDIT_THRESHOLD_CROSSED = "CREDIT_THRESHOLD_CROSSED"
    CREDIT_THRESHOLD_RECOVERED = "CREDIT_THRESHOLD_RECOVERED"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signatures(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per valid secret, space-separated."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)


def after_failure(attempts: int, limit: int, at: datetime) -> datetime | None:
    """When the next attempt is due after `attempts` failed ones; None: FAILED for good."""
    if attempts >= limit:
        return None
    return at + RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
