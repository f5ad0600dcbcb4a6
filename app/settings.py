"""One frozen Settings object from CREDITS_* environment variables.

Read only by app.main and app.cli.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./credits.db"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    scheduler_interval: float = 1.0  # seconds between scheduler ticks (not an amount)
    scheduler_enabled: bool = True
    graphiql: bool = True
    introspection: bool = True
    dashboard: bool = True  # the /dashboard page; defaults to what graphiql is
    # Signs and verifies portal tokens instead of the database's keys (app.services.signing);
    # setting or changing it invalidates every token. Unset: the keys in the database.
    signing_key: str = ""
    allowed_origins: str = ""  # comma-separated origins allowed to open a WebSocket
    max_ws_message_bytes: int = 64 * 1024
    connection_init_timeout: float = 10.0  # seconds
    max_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5000
    max_cost: int = 50_000
    default_page_size: int = 50
    max_page_size: int = 500
    max_body_bytes: int = 1024 * 1024
    execution_timeout: float = 10.0  # seconds
    # Idle HTTP connections stay open this long: longer than clients and load balancers
    # keep theirs (aiohttp 15 s, load balancers 60 s), or a request races the close.
    keep_alive: int = 75  # seconds
    max_subscriptions_per_socket: int = 100
    max_subscriptions: int = 10_000  # per process, all sockets together
    # Queries of plain fields skip graphql-core's per-field execution (app.api.compiled).
    compiled_reads: bool = True
    log_level: str = "info"
    log_format: str = "auto"  # json, text, or auto: JSON unless stderr is a terminal
    # Webhooks: each server process delivers (off: this process does not); loopback
    # endpoint URLs (http:// too) are refused unless allowed, for development and tests.
    webhook_delivery: bool = True
    webhooks_allow_loopback: bool = False
    # Bearer token that /metrics asks for; unset, /metrics is open on a loopback host only.
    metrics_token: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(f"CREDITS_{field.name.upper()}")
            if raw is not None:
                values[field.name] = _convert(raw, field.type)
        values |= {k: v for k, v in overrides.items() if v is not None}
        for tool in LOOPBACK_DEFAULTS:  # on by default on loopback only
            values.setdefault(tool, is_loopback(values.get("host", cls.host)))
        values.setdefault("dashboard", values["graphiql"])
        return cls(**values)


LOOPBACK_DEFAULTS = ("graphiql", "introspection")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _convert(raw: str, kind: Any) -> Any:
    kind = str(kind)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)  # durations and intervals only
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw
