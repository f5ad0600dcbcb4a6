"""Portal tokens: signed, expiring, read-only bearer tokens for one customer's credits.

A token is `pt_<payload>.<signature>`: the payload names the customer, the expiry and
the id of the signing key (app.services.signing); the signature is HMAC-SHA256 of the
payload under that key, checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from sqlalchemy import select

from app.domain.access import Viewer, ViewerKind
from app.domain.errors import Issues, NotFound
from app.domain.ids import kind_of
from app.domain.time import Duration, add_duration, is_positive
from app.services.common import check_id
from app.services.runtime import Runtime
from app.services.signing import LONGEST_TOKEN, SigningKey, SigningKeys
from app.storage.engine import read_connection
from app.storage.tables import customers

TOKEN_PREFIX = "pt_"


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret: str) -> str:
    return _encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def sign_token(customer_id: str, expires_at: datetime, key: SigningKey) -> str:
    payload = _encode(f"{customer_id}|{int(expires_at.timestamp())}|{key.id}".encode())
    return f"{TOKEN_PREFIX}{payload}.{_sign(payload, key.secret)}"


async def read_token(token: str, keys: SigningKeys, now: datetime) -> Viewer | None:
    """The portal viewer a valid, unexpired token stands for, or None."""
    payload, _, signature = token.removeprefix(TOKEN_PREFIX).partition(".")
    if not token.startswith(TOKEN_PREFIX):
        return None
    try:
        customer_id, expiry, key_id = _decode(payload).decode().split("|")
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
    except (ValueError, UnicodeDecodeError, OverflowError, OSError):
        return None
    secret = await keys.secret(key_id)
    if secret is None or not hmac.compare_digest(signature, _sign(payload, secret)):
        return None
    if expires_at <= now or kind_of(customer_id) != "customer":
        return None
    return Viewer(ViewerKind.PORTAL_TOKEN, "portal", customer_id=customer_id, expires_at=expires_at)


async def create_portal_token(
    runtime: Runtime, *, signing_keys: SigningKeys, customer_id: str, expires_in: Duration
) -> tuple[str, datetime]:
    """A read-only token for one customer, valid for `expires_in` (at most 30 days)."""
    now = runtime.clock.now()
    issues = Issues()
    check_id(issues, ("input", "customerId"), customer_id)
    if not is_positive(expires_in):
        issues.add(("input", "expiresIn"), "must be a positive duration")
    elif add_duration(now, expires_in) > now + LONGEST_TOKEN:
        issues.add(("input", "expiresIn"), "must be at most P30D")
    issues.raise_any()
    async with read_connection(runtime.engine) as connection:
        found = await connection.execute(
            select(customers.c.id).where(customers.c.id == customer_id)
        )
        if found.first() is None:
            raise NotFound("Customer", customer_id)
    expires_at = add_duration(now, expires_in).replace(microsecond=0)
    key = await signing_keys.current(now)
    return sign_token(customer_id, expires_at, key), expires_at
