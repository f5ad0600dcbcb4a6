"""`credits keys`: create, list and revoke API keys; rotate the portal tokens' signing key."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.access import Role
from app.services.keys import create_key, list_keys, revoke_key
from app.services.signing import KEPT_AFTER_RETIREMENT, LONGEST_TOKEN, rotate

NO_KEYS_MESSAGE = (
    "no API keys yet: a server on a loopback address runs in OPEN mode (every request "
    "acts as ADMIN); create one with `credits keys create --name NAME --role admin`"
)
Runner = Callable[[argparse.Namespace, Callable[[AsyncEngine], Any]], int]


def add_keys_parser(keys: argparse.ArgumentParser) -> None:
    # --database-url may also follow the action; SUPPRESS keeps one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    actions = keys.add_subparsers(title="actions", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", parents=[common], help="make a key; its secret is printed once, last"
    )
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument("--role", required=True, choices=["admin", "writer", "reader"])
    create.set_defaults(action="create")
    listing = actions.add_parser("list", parents=[common], help="every key, never its secret")
    listing.set_defaults(action="list")
    revoke = actions.add_parser(
        "revoke", parents=[common], help="revoke a key by the id `keys list` shows"
    )
    revoke.add_argument("id")
    revoke.set_defaults(action="revoke")
    rotating = actions.add_parser(
        "rotate-signing",
        parents=[common],
        help="a new portal-token signing key; the old one verifies until its tokens expire",
    )
    rotating.set_defaults(action="rotate-signing")


def keys_action(
    args: argparse.Namespace, *, signing_key_set: bool = False
) -> Callable[[AsyncEngine], Any]:
    if args.action == "rotate-signing":
        return _rotate_signing(signing_key_set)
    return {"create": _create, "list": _list, "revoke": _revoke}[args.action](args)


def _create(args: argparse.Namespace) -> Callable[[AsyncEngine], Any]:
    async def run(engine: AsyncEngine) -> int:
        name = args.name.strip()
        if not 1 <= len(name) <= 256:
            print("credits keys create: --name must be 1 to 256 characters", file=sys.stderr)
            return 2
        role = Role(args.role.upper())
        key_id, secret = await create_key(engine, name=name, role=role, now=datetime.now(UTC))
        print(f"created API key {key_id} ({role.value}) named {name!r}")
        print("the secret is shown only now; OPEN mode has ended for every server on this database")
        print(secret)
        return 0

    return run


def _list(args: argparse.Namespace) -> Callable[[AsyncEngine], Any]:
    async def run(engine: AsyncEngine) -> int:
        found = await list_keys(engine)
        if not found:
            print(NO_KEYS_MESSAGE)
        for key in found:
            state = f"revoked {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if key.revoked_at else "live"
            print(f"{key.id}\t{key.role.value}\t{state}\t{key.name}")
        return 0

    return run


def _revoke(args: argparse.Namespace) -> Callable[[AsyncEngine], Any]:
    async def run(engine: AsyncEngine) -> int:
        if await revoke_key(engine, args.id, datetime.now(UTC)):
            print(f"revoked {args.id}")
            return 0
        print(f"credits keys revoke: no live key {args.id}", file=sys.stderr)
        return 1

    return run


def _rotate_signing(signing_key_set: bool) -> Callable[[AsyncEngine], Any]:
    async def run(engine: AsyncEngine) -> int:
        now = datetime.now(UTC)
        rotation = await rotate(engine, now)
        print(f"signing key {rotation.new_id} signs every new portal token from now on")
        for key_id, until in rotation.retired:
            print(
                f"signing key {key_id} still verifies the tokens it signed until they expire "
                f"({LONGEST_TOKEN.days} days at most): keep it until {_instant(until)}; "
                f"the first rotate-signing after {_instant(now + KEPT_AFTER_RETIREMENT)} removes it"
            )
        if rotation.removed:
            removed = ", ".join(str(key_id) for key_id in rotation.removed)
            print(f"removed signing keys {removed}: every token they signed has expired")
        if signing_key_set:
            print(
                "note: CREDITS_SIGNING_KEY is set here; a server that has it signs and "
                "verifies with that key alone and ignores these"
            )
        return 0

    return run


def _instant(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"
