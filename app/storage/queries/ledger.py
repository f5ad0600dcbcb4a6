"""Ledger entries and consumptions: by id, a consumption's entries, and pages of the
ledger (newest first) of grants, of customers or of everyone, with their counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.storage.queries import rows
from app.storage.queries.pages import (
    Ordering,
    Page,
    Slice,
    keyset_select,
    per_parent_select,
    slice_rows,
    slices_by_parent,
)
from app.storage.queries.rows import readable, scoped
from app.storage.reads import ledger_conditions
from app.storage.tables import consumptions, entries

ORDER = Ordering((entries.c.booked_at, entries.c.position), (datetime, int), descending=True)
# whose ledger a page lists: a grant's, a customer's, or everyone's ("all", no parent)
PARENTS = {"grant": entries.c.grant_id, "customer": entries.c.customer_id}


@dataclass(frozen=True)
class LedgerQuery:
    """A ledger list request in plain values: hashable, so loaders can batch by it."""

    types: tuple[str, ...] | None = None
    currency: str | None = None
    grant_id: str | None = None
    feature_key: str | None = None
    booked_from: datetime | None = None
    booked_before: datetime | None = None

    def conditions(self, scope: str | None) -> list[ColumnElement[bool]]:
        return [*ledger_conditions(self), *scoped(entries.c.customer_id, scope)]


async def entries_by_ids(
    connection: AsyncConnection, ids: Sequence[str], scope: str | None
) -> list[Any]:
    return await rows.by_ids(connection, entries, ids, scope)


async def consumed_entries(
    connection: AsyncConnection, consumption_ids: Sequence[str]
) -> list[Any]:
    """The CONSUMED entries of the consumptions, in sequence (burn) order."""
    statement = (
        select(*readable(entries))
        .where(entries.c.consumption_id.in_(consumption_ids), entries.c.type == "CONSUMED")
        .order_by(entries.c.sequence)
    )
    return list(await connection.execute(statement))


async def consumptions_by_ids(
    connection: AsyncConnection, ids: Sequence[str], scope: str | None
) -> list[Any]:
    return await rows.by_ids(connection, consumptions, ids, scope)


async def pages(
    connection: AsyncConnection,
    kind: str,
    parent_ids: Sequence[str | None],
    query: LedgerQuery,
    page: Page,
    scope: str | None,
) -> dict[str | None, Slice]:
    """Each parent's page of its ledger in one statement; kind "all" has one parent, None."""
    parent = PARENTS.get(kind)
    if parent is None:
        statement = select(*readable(entries)).where(*query.conditions(scope))
        rows = await connection.execute(keyset_select(statement, ORDER, page))
        return {None: slice_rows(list(rows), page)}
    ids = [str(parent_id) for parent_id in parent_ids]
    paged = per_parent_select(
        entries,
        parent,
        ids,
        query.conditions(scope),
        ORDER,
        page,
        dialect=connection.dialect.name,
    )
    return dict(slices_by_parent(list(await connection.execute(paged)), ids, page))


async def counts(
    connection: AsyncConnection,
    kind: str,
    parent_ids: Sequence[str | None],
    query: LedgerQuery,
    scope: str | None,
) -> dict[str | None, int]:
    """How many entries each parent's filtered ledger holds."""
    statement = select(func.count()).select_from(entries).where(*query.conditions(scope))
    parent = PARENTS.get(kind)
    if parent is None:
        return {None: int((await connection.execute(statement)).scalar_one())}
    grouped = statement.add_columns(parent).where(parent.in_(parent_ids)).group_by(parent)
    found = {row[1]: int(row[0]) for row in await connection.execute(grouped)}
    return {parent_id: found.get(parent_id, 0) for parent_id in parent_ids}


_HEAD = (
    select(entries.c.sequence, entries.c.hash)
    .where(entries.c.customer_id == bindparam("customer_id"))
    .where(entries.c.currency == bindparam("currency"))
    .order_by(entries.c.sequence.desc())
    .limit(1)
)


async def heads(
    connection: AsyncConnection, ledgers: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """The last entry's (sequence, hash) of each (customer, currency) ledger that has one:
    a seek on the unique (customer_id, currency, sequence) index each."""
    found = {}
    for customer_id, currency in ledgers:
        parameters = {"customer_id": customer_id, "currency": currency}
        row = (await connection.execute(_HEAD, parameters)).first()
        if row is not None:
            found[(customer_id, currency)] = (row.sequence, row.hash)
    return found
