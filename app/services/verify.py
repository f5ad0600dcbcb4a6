"""`credits verify`: recompute every cached figure from the ledger and report differences.

Everything is read in one snapshot (REPEATABLE READ on PostgreSQL; on SQLite one read
transaction already is one), so writers may run meanwhile without false differences.
Memory does not grow with the ledger: the entries are streamed once in sequence order to
check each ledger's chain and recompute its hashes (docs/tamper-evidence.md), and the figures of
accounts, grants and consumptions are summed by the database and streamed beside their
cached rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.hashing import COLUMNS, GENESIS, link
from app.domain.ledger import RESTRICTED
from app.storage.tables import (
    accounts,
    consumptions,
    entries,
    grant_features,
    grants,
    scope_figures,
    threshold_events,
    thresholds,
)

BATCH = 1000  # rows fetched at a time from each stream


async def verify(engine: AsyncEngine) -> list[str]:
    """Every difference between the caches and the ledger, as readable lines; [] if none."""
    problems: list[str] = []
    async with snapshot(engine) as connection:
        await _walk_ledgers(connection, problems)
        await _check_accounts(connection, problems)
        await _check_grants(connection, problems)
        await _check_consumptions(connection, problems)
        await _check_scopes(connection, problems)
    return problems


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read-only transaction that sees the database as of its first statement."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with connection.begin():
            yield connection


async def _stream(connection: AsyncConnection, statement: Select[Any]) -> AsyncIterator[Any]:
    result = await connection.stream(statement.execution_options(yield_per=BATCH))
    async for row in result:
        yield row


# ---- each ledger's chain, entry by entry


RUNNING = (
    entries.c.balance_after,
    entries.c.funded_after,
    entries.c.consumed_after,
    entries.c.expired_after,
    entries.c.voided_after,
    entries.c.promotional_after,
)
LEDGER = select(
    *(entries.c[name] for name in COLUMNS),
    entries.c.funding_method,
    entries.c.hash,
    *RUNNING[1:],
).order_by(entries.c.customer_id, entries.c.currency, entries.c.sequence)


async def _walk_ledgers(connection: AsyncConnection, problems: list[str]) -> None:
    """Sequence without gaps, before/after that chain, never backdated, never negative,
    the running figures each entry carries, and each hash over the one before it."""
    ledger, sequence, available, last, figures = None, 0, 0, None, [0] * len(RUNNING)
    previous = GENESIS
    async for entry in _stream(connection, LEDGER):
        if (entry.customer_id, entry.currency) != ledger:
            ledger, sequence, available, last = (entry.customer_id, entry.currency), 0, 0, None
            figures, previous = [0] * len(RUNNING), GENESIS
        where = f"entry {entry.id} ({entry.customer_id}/{entry.currency} #{entry.sequence})"
        # chained on the stored hash: only the entry whose fields or hash changed is named
        if link(previous, entry._mapping) != entry.hash:
            problems.append(f"{where}: hash does not match its fields and the previous hash")
        previous = entry.hash
        if entry.sequence != sequence + 1:
            problems.append(f"{where}: sequence follows {sequence}")
        if entry.balance_before != available:
            problems.append(
                f"{where}: available before is {entry.balance_before}, the ledger says {available}"
            )
        if entry.balance_after != entry.balance_before + entry.amount:
            problems.append(f"{where}: available after is not before + amount")
        if last is not None and entry.booked_at < last:
            problems.append(f"{where}: booked before the entry it follows")
        if entry.balance_after < 0:
            problems.append(f"{where}: available balance below zero")
        sequence, available, last = entry.sequence, available + entry.amount, entry.booked_at
        _run(figures, entry)
        carried = [getattr(entry, column.name) for column in RUNNING]
        if carried != figures:
            problems.append(f"{where}: running figures {carried}, the ledger says {figures}")


def _run(figures: list[int], entry: Any) -> None:
    """The running figures (in RUNNING's order) after one more entry, in place."""
    kind, amount = entry.type, entry.amount
    figures[0] += amount
    figures[1] += amount if kind == "FUNDED" else 0
    figures[2] -= amount if kind in ("CONSUMED", "RESTORED") else 0
    figures[3] -= amount if kind == "EXPIRED" else 0
    figures[4] -= amount if kind == "VOIDED" else 0
    figures[5] += amount if entry.funding_method == "NONE" else 0


# ---- cached figures against the database's sums of the entries


def _sum(amount: ColumnElement[Any], *types: str, negate: bool = False) -> ColumnElement[int]:
    """The sum of the amounts of entries of these types (all types if none), as an integer."""
    picked = case((entries.c.type.in_(types), amount), else_=0) if types else amount
    total = func.sum(picked)
    return cast(-total if negate else total, BigInteger)


GRANT_FIGURES = {
    "remaining": _sum(entries.c.amount),
    "funded": _sum(entries.c.amount, "FUNDED"),
    "consumed": _sum(entries.c.amount, "CONSUMED", "RESTORED", negate=True),
    "expired": _sum(entries.c.amount, "EXPIRED", negate=True),
    "voided": _sum(entries.c.amount, "VOIDED", negate=True),
}
ACCOUNT_FIGURES = {
    "sequence": func.max(entries.c.sequence),
    "available": _sum(entries.c.amount),
    "available_promotional": _sum(
        case((entries.c.funding_method == "NONE", entries.c.amount), else_=0)
    ),
    "funded": GRANT_FIGURES["funded"],
    "consumed": GRANT_FIGURES["consumed"],
    "expired": GRANT_FIGURES["expired"],
    "voided": GRANT_FIGURES["voided"],
    "last_booked_at": func.max(entries.c.booked_at),
}
_LAST_HASH = (  # the hash of the account's ledger's last entry: one seek
    select(entries.c.hash)
    .where(entries.c.customer_id == accounts.c.customer_id)
    .where(entries.c.currency == accounts.c.currency)
    .order_by(entries.c.sequence.desc())
    .limit(1)
    .scalar_subquery()
)
_THRESHOLDS = (  # the undeleted thresholds on the account's ledger (docs/thresholds.md)
    select(func.count())
    .where(thresholds.c.customer_id == accounts.c.customer_id)
    .where(thresholds.c.currency == accounts.c.currency, thresholds.c.state != "DELETED")
    .scalar_subquery()
)
_LAST_THRESHOLD_EVENT = (
    select(func.coalesce(func.max(threshold_events.c.sequence), 0))
    .where(threshold_events.c.customer_id == accounts.c.customer_id)
    .where(threshold_events.c.currency == accounts.c.currency)
    .scalar_subquery()
)
CONSUMPTION_FIGURES = {
    "consumed": _sum(entries.c.amount, "CONSUMED", negate=True),
    "reversed": _sum(entries.c.amount, "RESTORED"),
}


def _sums(figures: dict[str, ColumnElement[Any]], *by: ColumnElement[Any]) -> Any:
    labelled = [figure.label(f"ledger_{name}") for name, figure in figures.items()]
    return select(*by, *labelled).group_by(*by).subquery()


def _figures(sums: Any) -> list[Any]:
    return [column for column in sums.c if column.name.startswith("ledger_")]


async def _check_accounts(connection: AsyncConnection, problems: list[str]) -> None:
    sums = _sums(ACCOUNT_FIGURES, entries.c.customer_id, entries.c.currency)
    same = and_(
        sums.c.customer_id == accounts.c.customer_id, sums.c.currency == accounts.c.currency
    )
    last_hash = func.coalesce(_LAST_HASH, GENESIS).label("ledger_last_hash")
    watched = (
        _THRESHOLDS.label("ledger_thresholds"),
        _LAST_THRESHOLD_EVENT.label("ledger_threshold_sequence"),
    )
    statement = select(accounts, *_figures(sums), last_hash, *watched).outerjoin(sums, same)
    async for row in _stream(connection, statement):
        where = f"account {row.customer_id}/{row.currency}"
        names = (*ACCOUNT_FIGURES, "last_hash", "thresholds", "threshold_sequence")
        _compare(problems, where, row, names)
    orphans = select(sums.c.customer_id, sums.c.currency).outerjoin(accounts, same)
    orphans = orphans.where(accounts.c.customer_id.is_(None))
    async for row in _stream(connection, orphans):
        problems.append(f"account {row.customer_id}/{row.currency}: entries without an account row")


async def _check_grants(connection: AsyncConnection, problems: list[str]) -> None:
    sums = _sums(GRANT_FIGURES, entries.c.grant_id)
    same = sums.c.grant_id == grants.c.id
    statement = select(grants, *_figures(sums)).outerjoin(sums, same)
    async for row in _stream(connection, statement):
        where = f"grant {row.id}"
        _compare(problems, where, row, ("remaining", "consumed", "expired", "voided"))
        if row.remaining < 0:
            problems.append(f"{where}: remaining below zero")
        funded = row.ledger_funded or 0
        if funded != (row.amount if row.funded_at is not None else 0):
            problems.append(
                f"{where}: funded {funded} by the ledger, "
                f"amount {row.amount}, funded_at {row.funded_at}"
            )


async def _check_consumptions(connection: AsyncConnection, problems: list[str]) -> None:
    sums = _sums(CONSUMPTION_FIGURES, entries.c.consumption_id)
    same = sums.c.consumption_id == consumptions.c.id
    statement = select(consumptions, *_figures(sums)).outerjoin(sums, same)
    async for row in _stream(connection, statement):
        _compare(problems, f"consumption {row.id}", row, tuple(CONSUMPTION_FIGURES))


def _compare(problems: list[str], where: str, row: Any, names: tuple[str, ...]) -> None:
    """Each cached figure against the ledger's (a row with no entries sums to zero)."""
    for name in names:
        cached, derived = getattr(row, name), getattr(row, f"ledger_{name}")
        if derived is None and name != "last_booked_at":
            derived = 0
        if cached != derived:
            problems.append(f"{where}: {name} is {cached} in the cache, {derived} by the ledger")


# ---- running figures of the restricted grants' scopes


def _expected_scopes() -> Any:
    """Each scope row the ledger implies, with its running figures (window sums)."""
    restricted = select(grants.c.id.label("grant_id"), literal(RESTRICTED).label("scope"))
    restricted = restricted.where(grants.c.restricted)
    listed = select(grant_features.c.grant_id, grant_features.c.feature.label("scope"))
    scoped = restricted.union_all(listed).subquery("scoped")
    partition = (entries.c.customer_id, entries.c.currency, scoped.c.scope)
    running = [
        cast(
            func.sum(figure).over(partition_by=partition, order_by=entries.c.sequence), BigInteger
        ).label(f"ledger_{name}")
        for name, figure in SCOPE_FIGURES.items()
    ]
    keys = (entries.c.customer_id, entries.c.currency, scoped.c.scope, entries.c.sequence)
    joined = entries.join(scoped, scoped.c.grant_id == entries.c.grant_id)
    return select(*keys, *running).select_from(joined).subquery("expected")


SCOPE_FIGURES: dict[str, ColumnElement[Any]] = {
    "available": entries.c.amount,
    "funded": case((entries.c.type == "FUNDED", entries.c.amount), else_=0),
    "consumed": case((entries.c.type.in_(["CONSUMED", "RESTORED"]), -entries.c.amount), else_=0),
    "expired": case((entries.c.type == "EXPIRED", -entries.c.amount), else_=0),
    "voided": case((entries.c.type == "VOIDED", -entries.c.amount), else_=0),
    "promotional": case((entries.c.funding_method == "NONE", entries.c.amount), else_=0),
}


async def _check_scopes(connection: AsyncConnection, problems: list[str]) -> None:
    expected = _expected_scopes()
    same = and_(
        *(scope_figures.c[name] == expected.c[name] for name in SCOPE_KEYS),
    )
    found = select(expected, *(scope_figures.c[name] for name in SCOPE_FIGURES))
    found = found.outerjoin(scope_figures, same)
    async for row in _stream(connection, found):
        where = f"scope {row.customer_id}/{row.currency}/{row.scope} #{row.sequence}"
        if row.available is None:
            problems.append(f"{where}: no running figures kept")
        else:
            _compare(problems, where, row, tuple(SCOPE_FIGURES))
    extra = select(scope_figures).outerjoin(expected, same)
    async for row in _stream(connection, extra.where(expected.c.sequence.is_(None))):
        where = f"scope {row.customer_id}/{row.currency}/{row.scope} #{row.sequence}"
        problems.append(f"{where}: running figures kept for no entry of the scope")


SCOPE_KEYS = ("customer_id", "currency", "scope", "sequence")
