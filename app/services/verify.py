"""`credits verify`: recompute every cached figure from the ledger and report differences."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.engine import read_connection
from app.storage.tables import accounts, consumptions, entries, grants

SIGN = {
    "FUNDED": "funded",
    "CONSUMED": "consumed",
    "RESTORED": "consumed",
    "EXPIRED": "expired",
    "VOIDED": "voided",
}


async def verify(engine: AsyncEngine) -> list[str]:
    """Every difference between the caches and the ledger, as readable lines; [] if none."""
    async with read_connection(engine) as connection:
        ledger = await connection.execute(
            select(entries).order_by(entries.c.customer_id, entries.c.currency, entries.c.sequence)
        )
        problems, by_account, by_grant, by_consumption = _walk(ledger)
        for row in await connection.execute(select(accounts)):
            _compare(
                problems,
                f"account {row.customer_id}/{row.currency}",
                row,
                by_account.pop((row.customer_id, row.currency), {}),
                ACCOUNT_FIGURES,
            )
        for key in by_account:
            problems.append(f"account {key[0]}/{key[1]}: entries without an account row")
        for row in await connection.execute(select(grants)):
            _check_grant(problems, row, by_grant.get(row.id, {}))
        for row in await connection.execute(select(consumptions)):
            _compare(
                problems,
                f"consumption {row.id}",
                row,
                by_consumption.get(row.id, {}),
                ("consumed", "reversed"),
            )
    return problems


ACCOUNT_FIGURES = (
    "sequence",
    "available",
    "available_promotional",
    "funded",
    "consumed",
    "expired",
    "voided",
    "last_booked_at",
)
Figures = dict[str, Any]


def _walk(
    ledger: Any,
) -> tuple[list[str], dict[tuple[str, str], Figures], dict[str, Figures], dict[str, Figures]]:
    problems: list[str] = []
    by_account: dict[tuple[str, str], Figures] = {}
    by_grant: dict[str, Figures] = defaultdict(lambda: defaultdict(int))
    by_consumption: dict[str, Figures] = defaultdict(lambda: defaultdict(int))
    for entry in ledger:
        key = (entry.customer_id, entry.currency)
        account = by_account.setdefault(key, defaultdict(int) | {"last_booked_at": None})
        where = f"entry {entry.id} ({key[0]}/{key[1]} #{entry.sequence})"
        if entry.sequence != account["sequence"] + 1:
            problems.append(f"{where}: sequence follows {account['sequence']}")
        if entry.balance_before != account["available"]:
            problems.append(
                f"{where}: available before is {entry.balance_before}, "
                f"the ledger says {account['available']}"
            )
        if entry.balance_after != entry.balance_before + entry.amount:
            problems.append(f"{where}: available after is not before + amount")
        if account["last_booked_at"] is not None and entry.booked_at < account["last_booked_at"]:
            problems.append(f"{where}: booked before the entry it follows")
        if entry.balance_after < 0:
            problems.append(f"{where}: available balance below zero")
        figure = SIGN[entry.type]
        signed = entry.amount if figure == "funded" else -entry.amount
        account["sequence"] = entry.sequence
        account["available"] += entry.amount
        account[figure] += signed
        if entry.funding_method == "NONE":
            account["available_promotional"] += entry.amount
        account["last_booked_at"] = entry.booked_at
        grant = by_grant[entry.grant_id]
        grant[figure] += signed
        grant["remaining"] += entry.amount
        if entry.consumption_id is not None:
            consumption = by_consumption[entry.consumption_id]
            if entry.type == "CONSUMED":
                consumption["consumed"] -= entry.amount
            elif entry.type == "RESTORED":
                consumption["reversed"] += entry.amount
    return problems, by_account, by_grant, by_consumption


def _check_grant(problems: list[str], row: Any, figures: Figures) -> None:
    where = f"grant {row.id}"
    _compare(problems, where, row, figures, ("remaining", "consumed", "expired", "voided"))
    if row.remaining < 0:
        problems.append(f"{where}: remaining below zero")
    funded = figures.get("funded", 0)
    if funded != (row.amount if row.funded_at is not None else 0):
        problems.append(
            f"{where}: funded {funded} by the ledger, "
            f"amount {row.amount}, funded_at {row.funded_at}"
        )


def _compare(
    problems: list[str], where: str, row: Any, figures: Figures, names: tuple[str, ...]
) -> None:
    for name in names:
        cached, derived = (
            getattr(row, name),
            figures.get(name, 0 if name != "last_booked_at" else None),
        )
        if cached != derived:
            problems.append(f"{where}: {name} is {cached} in the cache, {derived} by the ledger")
