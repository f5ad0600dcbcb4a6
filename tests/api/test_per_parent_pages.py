"""Pages of many parents in one statement (LATERAL on PostgreSQL, a correlated IN on SQLite)
hold exactly what paging each parent's list alone holds: rows, order and cursors, in every
order, both directions, after and before a cursor, with filters, ties and empty parents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Select, Table, select

from app.api.pagination import cursor_of
from app.domain.ids import new_id
from app.domain.time import FrozenClock, parse_duration
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.queries.grants import ORDERS, GrantQuery
from app.storage.queries.ledger import ORDER as LEDGER_ORDER
from app.storage.queries.pages import Ordering, Page, keyset_select, per_parent_select
from app.storage.tables import entries, grants
from tests.services.support import consume, promo
from tests.storage.test_postgres import both, pg_runtime

__all__ = ["both", "pg_runtime"]


async def world(runtime: Runtime, clock: FrozenClock) -> list[str]:
    """Three customers with grants of tied priorities and instants, some expiring, and
    entries booked at one instant (ties broken by position); and an unknown customer."""
    customers = []
    for c in range(3):
        customer_id, _ = await create_customer(runtime, key=f"c{c}", name=f"C{c}")
        customers.append(customer_id)
        for g in range(4 + c):
            expiry = parse_duration(f"P{g % 3 + 1}D") if g % 2 else None
            await promo(runtime, customer_id, "5", priority=g % 2 + 1, expires_after=expiry)
            if g % 3 == 0:
                clock.advance(timedelta(minutes=1))
        for d in range(3 * c + 2):
            await consume(runtime, customer_id, "1", f"d{d}")
        clock.advance(timedelta(minutes=1))
    return [*customers, new_id("customer")]


async def rows(runtime: Runtime, statement: Select[Any]) -> list[Any]:
    async with read_connection(runtime.engine) as connection:
        return list(await connection.execute(statement))


def pages(keys: tuple[Any, ...]) -> list[Page]:
    return [
        Page(2, backward=False),
        Page(3, backward=True),
        Page(2, backward=False, after=keys),
        Page(2, backward=True, before=keys),
        Page(50, backward=False, before=keys),
    ]


async def assert_pages_agree(
    runtime: Runtime,
    table: Table,
    parent: Column[Any],
    parent_ids: list[str],
    conditions: list[Any],
    ordering: Ordering,
) -> None:
    """Each page per parent in one statement equals that parent's list paged alone."""
    every = await rows(
        runtime, keyset_select(select(table).where(*conditions), ordering, Page(500, False))
    )
    middle = every[len(every) // 2]  # a bound for every parent's list
    keys = tuple(middle._mapping[f"cursor_k{i}"] for i in range(len(ordering.keys)))
    for page in pages(keys):
        statement = per_parent_select(
            table,
            parent,
            parent_ids,
            conditions,
            ordering,
            page,
            dialect=runtime.engine.dialect.name,
        )
        together: dict[str, list[str]] = {p: [] for p in parent_ids}
        for row in await rows(runtime, statement):
            together[row.page_parent].append(cursor_of(row, ordering))
        alone = {}
        for parent_id in parent_ids:
            one = select(table).where(parent == parent_id, *conditions)
            found = await rows(runtime, keyset_select(one, ordering, page))
            alone[parent_id] = [cursor_of(row, ordering) for row in found]
        assert together == alone, page
        assert together[parent_ids[-1]] == []


async def test_grant_pages_of_many_customers_equal_each_customers_own_pages(
    both: Runtime, clock: FrozenClock
) -> None:
    customers = await world(both, clock)
    for order in ORDERS:
        for descending in (False, True):
            ordering = GrantQuery(order=order, descending=descending).ordering()
            for conditions in ([], [grants.c.priority == 2]):
                await assert_pages_agree(
                    both, grants, grants.c.customer_id, customers, conditions, ordering
                )


async def test_ledger_pages_of_many_grants_and_customers_equal_each_ones_own_pages(
    both: Runtime, clock: FrozenClock
) -> None:
    customers = await world(both, clock)
    grant_ids = [row.id for row in await rows(both, select(grants.c.id).order_by(grants.c.id))]
    consumed = [entries.c.type == "CONSUMED"]
    for parent, ids in ((entries.c.customer_id, customers), (entries.c.grant_id, grant_ids)):
        for conditions in ([], consumed):
            await assert_pages_agree(
                both, entries, parent, [*ids[::-1], new_id("grant")], conditions, LEDGER_ORDER
            )
