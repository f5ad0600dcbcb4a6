"""Portal tokens: signed, expiring, read-only bearer tokens for one customer's credits.

A token is `pt_<payload>.<signature>`: the payload names the customer and the expiry,
the signature is HMAC-SHA256 under the signing key from settings (checked in constant
time), so changing the key invalidates every token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.domain.access import Viewer, ViewerKind
from app.domain.errors import Issues, NotFound
from app.domain.ids import kind_of
from app.domain.time import Duration, add_duration, is_positive
from app.services.common import check_id
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.tables import customers

TOKEN_PREFIX = "pt_"
LONGEST = timedelta(days=30)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, key: str) -> str:
    return _encode(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest())


def sign_token(customer_id: str, expires_at: datetime, key: str) -> str:
    payload = _encode(f"{customer_id}|{int(expires_at.timestamp())}".encode())
    return f"{TOKEN_PREFIX}{payload}.{_sign(payload, key)}"


def read_token(token: str, key: str, now: datetime) -> Viewer | None:
    """The portal viewer a valid, unexpired token stands for, or None."""
    payload, _, signature = token.removeprefix(TOKEN_PREFIX).partition(".")
    if not token.startswith(TOKEN_PREFIX) or not hmac.compare_digest(
        signature, _sign(payload, key)
    ):
        return None
    try:
        customer_id, _, expiry = _decode(payload).decode().partition("|")
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
    except (ValueError, UnicodeDecodeError):
        return None
    if expires_at <= now or kind_of(customer_id) != "customer":
        return None
    return Viewer(ViewerKind.PORTAL_TOKEN, "portal", customer_id=customer_id)


async def create_portal_token(
    runtime: Runtime, *, signing_key: str, customer_id: str, expires_in: Duration
) -> tuple[str, datetime]:
    """A read-only token for one customer, valid for `expires_in` (at most 30 days)."""
    now = runtime.clock.now()
    issues = Issues()
    check_id(issues, ("input", "customerId"), customer_id)
    if not is_positive(expires_in):
        issues.add(("input", "expiresIn"), "must be a positive duration")
    elif add_duration(now, expires_in) > now + LONGEST:
        issues.add(("input", "expiresIn"), "must be at most P30D")
    issues.raise_any()
    async with read_connection(runtime.engine) as connection:
        found = await connection.execute(
            select(customers.c.id).where(customers.c.id == customer_id)
        )
        if found.first() is None:
            raise NotFound("Customer", customer_id)
    expires_at = add_duration(now, expires_in).replace(microsecond=0)
    return sign_token(customer_id, expires_at, signing_key), expires_at
