"""`credits verify` recomputes the running figures balances are read from, and reports each
one that differs from the ledger: on an entry, on a scope row, a scope row missing or extra."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.verify import verify
from app.storage.engine import read_connection, write_transaction
from app.storage.tables import entries, scope_figures
from tests.services.support import consume, promo


async def change(runtime: Runtime, statement: Any) -> None:
    async with write_transaction(runtime.engine) as connection:
        await connection.execute(statement)


async def restricted_history(runtime: Runtime, customer_id: str) -> None:
    await promo(runtime, customer_id, "100")
    await promo(runtime, customer_id, "50", features=("api", "gpu"))
    await consume(runtime, customer_id, "30", key="a", feature_key="api")
    await consume(runtime, customer_id, "40", key="b", feature_key="api")


async def test_the_running_figures_of_a_restricted_history_are_clean(both: Runtime) -> None:
    customer_id, _ = await create_customer(both, key="acme", name="Acme")
    await restricted_history(both, customer_id)
    async with read_connection(both.engine) as connection:
        rows = (await connection.execute(select(scope_figures))).all()
    # in cents: the restricted grant's funding and two draws on it, in "*", "api" and "gpu"
    assert sorted((r.scope, r.sequence, r.available, r.consumed) for r in rows) == [
        ("*", 2, 5000, 0),
        ("*", 3, 2000, 3000),
        ("*", 4, 0, 5000),
        ("api", 2, 5000, 0),
        ("api", 3, 2000, 3000),
        ("api", 4, 0, 5000),
        ("gpu", 2, 5000, 0),
        ("gpu", 3, 2000, 3000),
        ("gpu", 4, 0, 5000),
    ]
    assert await verify(both.engine) == []


async def test_a_corrupted_running_figure_is_reported(both: Runtime) -> None:
    runtime = both
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    await restricted_history(runtime, customer_id)
    mine = (scope_figures.c.customer_id == customer_id) & (scope_figures.c.sequence == 3)
    await change(
        runtime,
        update(entries)
        .where(entries.c.customer_id == customer_id, entries.c.sequence == 5)
        .values(consumed_after=1),
    )
    await change(
        runtime,
        update(scope_figures).where(mine, scope_figures.c.scope == "api").values(available=7),
    )
    await change(runtime, delete(scope_figures).where(mine, scope_figures.c.scope == "gpu"))
    extra = {"customer_id": customer_id, "currency": "USD", "scope": "storage", "sequence": 1}
    figures = dict.fromkeys(("available", "funded", "consumed", "expired", "voided"), 0)
    await change(runtime, insert(scope_figures).values(extra | figures | {"promotional": 0}))

    problems = await verify(runtime.engine)

    assert len(problems) == 4, problems
    assert (
        "#5): running figures [8000, 15000, 1, 0, 0, 8000], "
        "the ledger says [8000, 15000, 7000, 0, 0, 8000]" in problems[0]
    )
    assert sorted(problems[1:]) == [
        f"scope {customer_id}/USD/api #3: available is 7 in the cache, 2000 by the ledger",
        f"scope {customer_id}/USD/gpu #3: no running figures kept",
        f"scope {customer_id}/USD/storage #1: running figures kept for no entry of the scope",
    ]
