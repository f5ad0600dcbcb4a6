"""The floor: the benchmark's requests answered in plain SQL, no GraphQL.

A tiny Starlette app served by uvicorn like `credits serve`, over the same engine
(`app.storage.engine.create_engine`: same driver, pool and PRAGMAs), answering with the
same JSON the GraphQL server sends. `/dashboard` fetches the dashboard's rows in one
statement per level; `/dashboard/naive` in one statement per parent (a resolver chain
without batching); `/consume` is one transaction doing a consumption's rows.

Run: PYTHONPATH=scripts python -m benchmark.floor DATABASE_URL PORT
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import uvicorn
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.domain.hashing import GENESIS, link
from app.domain.ids import new_id
from app.domain.ledger import EntryType, Figures
from app.storage.engine import create_engine, lock_customer, read_connection, write_transaction
from app.storage.tables import accounts, consumptions, entries, grants

CUSTOMERS, GRANTS, ENTRIES = 50, 20, 10  # the dashboard's page sizes
SCALE = 2  # USD and EUR
CUSTOMER_PAGE = text("SELECT id FROM customer ORDER BY id LIMIT :n")
BALANCES = text(
    "SELECT customer_id, currency, available FROM account"
    " WHERE customer_id IN :ids ORDER BY customer_id, currency"
).bindparams(bindparam("ids", expanding=True))
PAGES = {
    "sqlite": (
        "SELECT g.id, g.customer_id, g.remaining FROM (SELECT value AS id FROM json_each(:ids)) c"
        " JOIN credit_grant g ON g.id IN (SELECT p.id FROM credit_grant p"
        " WHERE p.customer_id = c.id ORDER BY p.created_at, p.id LIMIT :n)"
        " ORDER BY g.customer_id, g.created_at, g.id",
        "SELECT e.grant_id, e.amount FROM (SELECT value AS id FROM json_each(:ids)) p"
        " JOIN ledger_entry e ON e.position IN (SELECT x.position FROM ledger_entry x"
        " WHERE x.grant_id = p.id ORDER BY x.booked_at DESC, x.position DESC LIMIT :n)"
        " ORDER BY e.grant_id, e.booked_at DESC, e.position DESC",
    ),
    "postgresql": (
        "SELECT g.id, g.customer_id, g.remaining FROM unnest(CAST(:ids AS text[])) AS c(id)"
        " CROSS JOIN LATERAL (SELECT p.id, p.customer_id, p.remaining FROM credit_grant p"
        " WHERE p.customer_id = c.id ORDER BY p.created_at, p.id LIMIT :n) g",
        "SELECT e.grant_id, e.amount FROM unnest(CAST(:ids AS text[])) AS p(id)"
        " CROSS JOIN LATERAL (SELECT x.grant_id, x.amount FROM ledger_entry x"
        " WHERE x.grant_id = p.id ORDER BY x.booked_at DESC, x.position DESC LIMIT :n) e",
    ),
}
NAIVE_GRANTS = text(
    "SELECT id, customer_id, remaining FROM credit_grant WHERE customer_id = :id"
    " ORDER BY created_at, id LIMIT :n"
)
NAIVE_ENTRIES = text(
    "SELECT grant_id, amount FROM ledger_entry WHERE grant_id = :id"
    " ORDER BY booked_at DESC, position DESC LIMIT :n"
)
NAIVE_GRANT = text("SELECT id FROM credit_grant WHERE id = :id")


def money(units: int) -> str:
    return format(Decimal(units).scaleb(-SCALE), "f")


def ids_parameter(engine: AsyncEngine, ids: list[str]) -> Any:
    return json.dumps(ids) if engine.dialect.name == "sqlite" else ids


async def dashboard(engine: AsyncEngine) -> dict[str, Any]:
    grant_sql, entry_sql = (text(sql) for sql in PAGES[engine.dialect.name])
    async with read_connection(engine) as connection:
        ids = list((await connection.execute(CUSTOMER_PAGE, {"n": CUSTOMERS})).scalars())
        balances = (await connection.execute(BALANCES, {"ids": ids})).all()
        page = {"ids": ids_parameter(engine, ids), "n": GRANTS}
        grant_rows = (await connection.execute(grant_sql, page)).all()
        grant_ids = [row.id for row in grant_rows]
        page = {"ids": ids_parameter(engine, grant_ids), "n": ENTRIES}
        entry_rows = (await connection.execute(entry_sql, page)).all()
    return render(ids, balances, grant_rows, entry_rows)


async def naive_dashboard(engine: AsyncEngine) -> dict[str, Any]:
    async with read_connection(engine) as connection:
        ids = list((await connection.execute(CUSTOMER_PAGE, {"n": CUSTOMERS})).scalars())
        balances: list[Any] = []
        grant_rows: list[Any] = []
        entry_rows: list[Any] = []
        for customer_id in ids:
            balances += (await connection.execute(BALANCES, {"ids": [customer_id]})).all()
            page = (await connection.execute(NAIVE_GRANTS, {"id": customer_id, "n": GRANTS})).all()
            grant_rows += page
            for grant in page:
                found = await connection.execute(NAIVE_ENTRIES, {"id": grant.id, "n": ENTRIES})
                for entry in found.all():
                    await connection.execute(NAIVE_GRANT, {"id": entry.grant_id})
                    entry_rows.append(entry)
    return render(ids, balances, grant_rows, entry_rows)


def render(ids: list[str], balances: Any, grant_rows: Any, entry_rows: Any) -> dict[str, Any]:
    """The GraphQL server's response to the dashboard query, from rows."""
    entries_of: dict[str, list[Any]] = {}
    for entry in entry_rows:
        node = {"amount": money(entry.amount), "grant": {"id": entry.grant_id}}
        entries_of.setdefault(entry.grant_id, []).append({"node": node})
    grants_of: dict[str, list[Any]] = {}
    for grant in grant_rows:
        connection = {"edges": entries_of.get(grant.id, [])}
        node = {"remaining": money(grant.remaining), "ledgerEntries": connection}
        grants_of.setdefault(grant.customer_id, []).append({"node": node})
    balances_of: dict[str, list[Any]] = {}
    for row in balances:
        figure = {"currency": row.currency, "available": money(row.available)}
        balances_of.setdefault(row.customer_id, []).append(figure)
    edges = [
        {
            "node": {
                "creditBalances": balances_of.get(customer_id, []),
                "creditGrants": {"edges": grants_of.get(customer_id, [])},
            }
        }
        for customer_id in ids
    ]
    return {"data": {"customers": {"edges": edges}}}


async def consume(engine: AsyncEngine, body: dict[str, Any]) -> dict[str, Any]:
    """One transaction: lock, pick the grant, insert the consumption and its entry, update
    the grant's and the account's figures."""
    customer_id, currency, units = body["customerId"], body["currency"], int(body["units"])
    async with write_transaction(engine) as connection:
        await lock_customer(connection, customer_id)
        account = await _account(connection, customer_id, currency)
        grant = await _grant(connection, customer_id, currency, units)
        now = datetime.now(UTC)
        consumption_id, sequence = new_id("consumption"), account.sequence + 1
        transaction_id = new_id("transaction")
        await connection.execute(
            insert(consumptions).values(
                id=consumption_id, customer_id=customer_id, key=body["key"], fingerprint="floor",
                currency=currency, labels=[], requested=units, consumed=units, shortfall=0,
                reversed=0, transaction_id=transaction_id, created_at=now,
            )
        )  # fmt: skip
        figures = _figures_after(account, grant, units)
        entry = dict(
            id=new_id("entry"), customer_id=customer_id, currency=currency, sequence=sequence,
            grant_id=grant.id, consumption_id=consumption_id, type="CONSUMED", amount=-units,
            balance_before=account.available, balance_after=figures.available,
            booked_at=now, created_at=now, transaction_id=transaction_id, actor_type="OPEN",
            actor_id=None, actor_name="open", funding_method=grant.funding_method, labels=[],
        )  # fmt: skip
        row = entry | _columns_after(entry, account, figures)
        await connection.execute(insert(entries).values(row))
        await connection.execute(
            update(grants)
            .where(grants.c.id == grant.id)
            .values(remaining=grants.c.remaining - units, consumed=grants.c.consumed + units)
        )
        key = (accounts.c.customer_id == customer_id) & (accounts.c.currency == currency)
        await connection.execute(
            update(accounts)
            .where(key)
            .values(
                sequence=sequence,
                available=figures.available,
                consumed=figures.consumed,
                available_promotional=figures.promotional,
                last_booked_at=now,
                **({"last_hash": row["hash"]} if "hash" in row else {}),
            )
        )
    available = money(account.available - units)
    success = {"consumption": {"id": consumption_id}, "balance": {"available": available}}
    return {"data": {"consumeCredits": success}}


async def _account(connection: AsyncConnection, customer_id: str, currency: str) -> Any:
    statement = select(accounts).where(
        accounts.c.customer_id == customer_id, accounts.c.currency == currency
    )
    return (await connection.execute(statement)).one()


async def _grant(connection: AsyncConnection, customer_id: str, currency: str, units: int) -> Any:
    statement = (
        select(grants.c.id, grants.c.funding_method)
        .where(
            grants.c.customer_id == customer_id,
            grants.c.currency == currency,
            grants.c.remaining >= units,
            grants.c.restricted.is_(False),  # no scope figures to keep
        )
        .order_by(grants.c.burn_key)
        .limit(1)
    )
    return (await connection.execute(statement)).one()


def _figures_after(account: Any, grant: Any, units: int) -> Figures:
    """The ledger's running figures after consuming `units` of `grant`, by the domain's own
    rule (a promotional grant's draw lowers the promotional figure, a paid one's does not)."""
    figures = Figures(
        account.available,
        account.funded,
        account.consumed,
        account.expired,
        account.voided,
        account.available_promotional,
    )
    return figures.after(EntryType.CONSUMED, -units, grant.funding_method == "NONE")


def _columns_after(entry: dict[str, Any], account: Any, figures: Figures) -> dict[str, Any]:
    """Columns of newer schemas this floor does not name: the running figures after the
    entry (`<figure>_after`), other NOT NULL columns from the account row where the names
    match, else 0, so the insert writes as many values as the server's."""
    after = dict(account._mapping) | asdict(figures)
    values = {
        column.name: after.get(column.name.removesuffix("_after"), 0)
        for column in entries.columns
        if column.name not in entry and column.name != "position" and not column.nullable
    }
    if "hash" in values:  # the hash chain (docs/tamper-evidence.md), as the server computes it
        previous = after.get("last_hash", GENESIS)
        values["hash"] = link(previous, {"feature_key": None, "description": None} | entry)
    return values


def create_floor(database_url: str) -> Starlette:
    engine: AsyncEngine | None = None

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal engine
        engine = create_engine(database_url)
        yield
        await engine.dispose()

    def answer(body: dict[str, Any]) -> Response:
        # The same encoder as the server's (app/api/view.py), so the ratio measures the rest
        return Response(orjson.dumps(body), media_type="application/json")

    async def dashboard_route(request: Request) -> Response:
        assert engine is not None
        return answer(await dashboard(engine))

    async def naive_route(request: Request) -> Response:
        assert engine is not None
        return answer(await naive_dashboard(engine))

    async def consume_route(request: Request) -> Response:
        assert engine is not None
        return answer(await consume(engine, await request.json()))

    async def health(request: Request) -> Response:
        return answer({"data": {}})

    routes = [
        Route("/dashboard", dashboard_route, methods=["POST"]),
        Route("/dashboard/naive", naive_route, methods=["POST"]),
        Route("/consume", consume_route, methods=["POST"]),
        Route("/health", health, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


if __name__ == "__main__":
    url, port = sys.argv[1], int(sys.argv[2])
    config = uvicorn.Config(
        create_floor(url), host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=75
    )
    uvicorn.Server(config).run()
