"""`credits keys`: create, list and revoke API keys (DESIGN §10)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.access import Role
from app.services.keys import create_key, list_keys, revoke_key

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


def keys_action(args: argparse.Namespace) -> Callable[[AsyncEngine], Any]:
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
        for key in await list_keys(engine):
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
