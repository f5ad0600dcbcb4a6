"""The SSRF guard: where an endpoint's URL may point (docs/webhooks.md).

Refused: addresses that are loopback, private, link-local, multicast, unspecified or
reserved, and plain http:// — except loopback (http:// or https://) when the server
allows it for development and tests. Checked when an endpoint is saved and again before
each attempt (a name may resolve elsewhere later).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


async def url_problem(url: str, allow_loopback: bool) -> str | None:
    """Why the URL may not receive webhooks, or None."""
    if len(url) > 2048:
        return "must be at most 2048 characters"
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https:// URL"
    if parts.username or parts.password:
        return "must not carry credentials"
    try:
        addresses = await resolve(parts.hostname, port)
    except OSError:
        return f"{parts.hostname!r} does not resolve"
    problem = next((p for a in addresses if (p := address_problem(a, allow_loopback))), None)
    if problem:
        return problem
    if parts.scheme == "http" and not (allow_loopback and all(a.is_loopback for a in addresses)):
        return "must be an https:// URL (plain http:// only to loopback in development)"
    return None


def address_problem(address: Address, allow_loopback: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else f"resolves to a loopback address ({address})"
    if address.is_link_local:
        return f"resolves to a link-local address ({address})"
    if address.is_multicast:
        return f"resolves to a multicast address ({address})"
    if address.is_private or address.is_unspecified or address.is_reserved:
        return f"resolves to a private address ({address})"
    return None


async def resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
