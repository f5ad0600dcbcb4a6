"""The loaders' catch-up on SQLite and PostgreSQL: A's due events booked, B's not, and no
write transaction at all when nothing the request reads is due."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import strawberry
from sqlalchemy import event

from app.api.ledger import CreditLedgerFilter
from app.api.loaders import Loaders
from app.domain.time import FrozenClock, parse_duration
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.settings import Settings
from tests.services.support import D, ledger, promo
from tests.storage.test_postgres import pg_runtime

__all__ = ["pg_runtime"]

WRITES = ("BEGIN IMMEDIATE", "INSERT", "UPDATE", "DELETE")


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest) -> Runtime:
    name = "runtime" if request.param == "sqlite" else "pg_runtime"
    runtime: Runtime = request.getfixturevalue(name)
    return runtime


def watch(runtime: Runtime) -> list[str]:
    """Every statement the engine runs from now on."""
    statements: list[str] = []

    @event.listens_for(runtime.engine.sync_engine, "before_cursor_execute")
    def seen(*args: Any) -> None:
        statements.append(args[2])

    return statements


def writes(statements: list[str]) -> list[str]:
    """Writes, and what opens a write transaction: BEGIN IMMEDIATE, a row lock."""
    return [s for s in statements if s.lstrip().upper().startswith(WRITES) or "FOR UPDATE" in s]


def loaders(runtime: Runtime) -> Loaders:
    return Loaders(runtime, Settings(), runtime.clock.now())


async def test_a_read_of_a_books_a_only_and_a_read_with_nothing_due_writes_nothing(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    ids = {}
    for name in ("a", "b", "c"):
        ids[name], _ = await create_customer(runtime, key=name, name=name)
        expiry = parse_duration("PT1H") if name != "c" else None
        await promo(runtime, ids[name], "10", expires_after=expiry)
    clock.advance(timedelta(hours=2))
    statements = watch(runtime)

    [c_balance] = await loaders(runtime).balances(ids["c"], None, None)
    assert (c_balance.available, writes(statements)) == (D("10"), [])

    [a_balance] = await loaders(runtime).balances(ids["a"], None, None)
    assert (a_balance.available, a_balance.expired) == (D("0"), D("10"))
    assert [r.type for r in await ledger(runtime.engine, ids["a"])] == ["FUNDED", "EXPIRED"]
    assert [r.type for r in await ledger(runtime.engine, ids["b"])] == ["FUNDED"]
    assert writes(statements) != []

    statements.clear()
    [again] = await loaders(runtime).balances(ids["a"], None, None)
    assert (again.available, writes(statements)) == (D("0"), [])

    assert await book_due_events(runtime) == 1  # the scheduler books the rest: B
    assert [r.type for r in await ledger(runtime.engine, ids["b"])] == ["FUNDED", "EXPIRED"]


async def due_pair(runtime: Runtime, clock: FrozenClock) -> dict[str, str]:
    """A and B each with a grant whose expiry is due."""
    ids = {}
    for name in ("a", "b"):
        ids[name], _ = await create_customer(runtime, key=name, name=name)
        await promo(runtime, ids[name], "10", expires_after=parse_duration("PT1H"))
    clock.advance(timedelta(hours=2))
    return ids


async def types_of(runtime: Runtime, customer_id: str) -> list[str]:
    return [row.type for row in await ledger(runtime.engine, customer_id)]


async def test_the_root_ledger_for_a_portal_token_books_its_customer_only(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    ids = await due_pair(runtime, clock)
    scoped = Loaders(runtime, Settings(), runtime.clock.now(), ids["a"])

    page = await scoped.customer_ledger(None, 10, None, None, None, None)

    assert [edge.node.type.value for edge in page.edges] == ["EXPIRED", "FUNDED"]
    assert (await types_of(runtime, ids["a"]), await types_of(runtime, ids["b"])) == (
        ["FUNDED", "EXPIRED"],
        ["FUNDED"],
    )


async def test_the_root_ledger_of_one_grant_books_its_owner_only(
    both: Runtime, clock: FrozenClock
) -> None:
    runtime = both
    ids = await due_pair(runtime, clock)
    [funded] = await ledger(runtime.engine, ids["b"])
    query = CreditLedgerFilter(grant_id=strawberry.ID(funded.grant_id))

    page = await loaders(runtime).customer_ledger(None, 10, None, None, None, query)

    assert [edge.node.type.value for edge in page.edges] == ["EXPIRED", "FUNDED"]
    assert (await types_of(runtime, ids["a"]), await types_of(runtime, ids["b"])) == (
        ["FUNDED"],
        ["FUNDED", "EXPIRED"],
    )
