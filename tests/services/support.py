"""Short ways to make grants and consumptions and to read back what the database holds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.balances import Balance
from app.domain.grants import FundingMethod, GrantStatus
from app.domain.ledger import OPEN
from app.services.consumption import ConsumeRequest, ConsumptionOutcome, consume_credits
from app.services.grants import (
    GrantOutcome,
    GrantRequest,
    PurchaseTerms,
    grant_promotional_credits,
    purchase_credits,
)
from app.services.runtime import Runtime
from app.storage.balances import empty_balance, read_balances
from app.storage.engine import read_connection
from app.storage.mapping import grant_from_row
from app.storage.tables import consumptions, entries, grants, metadata


def D(text: str) -> Decimal:
    return Decimal(text)


async def promo(
    runtime: Runtime, customer_id: str, amount: str, currency: str = "USD", **fields: Any
) -> GrantOutcome:
    request = GrantRequest(
        customer_id=customer_id,
        name=fields.pop("name", "Welcome credits"),
        currency=currency,
        amount=D(amount),
        **fields,
    )
    return await grant_promotional_credits(runtime, actor=OPEN, request=request)


async def purchase(
    runtime: Runtime,
    customer_id: str,
    amount: str,
    currency: str = "USD",
    *,
    terms: PurchaseTerms | None = None,
    **fields: Any,
) -> GrantOutcome:
    request = GrantRequest(
        customer_id=customer_id,
        name=fields.pop("name", "Prepaid pack"),
        currency=currency,
        amount=D(amount),
        funding_method=fields.pop("funding_method", FundingMethod.INVOICE),
        purchase=terms,
        **fields,
    )
    return await purchase_credits(runtime, actor=OPEN, request=request)


async def consume(
    runtime: Runtime, customer_id: str, amount: str, key: str, currency: str = "USD", **fields: Any
) -> ConsumptionOutcome:
    request = ConsumeRequest(
        customer_id=customer_id, key=key, currency=currency, amount=D(amount), **fields
    )
    return await consume_credits(runtime, actor=OPEN, request=request)


async def balance(
    runtime: Runtime,
    customer_id: str,
    currency: str = "USD",
    *,
    at: datetime | None = None,
    feature_key: str | None = None,
) -> Balance:
    instant = at or runtime.clock.now()
    async with read_connection(runtime.engine) as connection:
        found = await read_balances(connection, [customer_id], instant, feature_key, currency)
    return found.get((customer_id, currency)) or empty_balance(
        customer_id, currency, instant, feature_key
    )


async def ledger(engine: AsyncEngine, customer_id: str, currency: str = "USD") -> list[Row[Any]]:
    """One customer's ledger in one currency, in sequence order."""
    statement = (
        select(entries)
        .where(entries.c.customer_id == customer_id, entries.c.currency == currency)
        .order_by(entries.c.sequence)
    )
    async with read_connection(engine) as connection:
        return list((await connection.execute(statement)).all())


async def grant_row(engine: AsyncEngine, grant_id: str) -> Row[Any]:
    async with read_connection(engine) as connection:
        return (await connection.execute(select(grants).where(grants.c.id == grant_id))).one()


async def grant_status(runtime: Runtime, grant_id: str) -> GrantStatus:
    row = await grant_row(runtime.engine, grant_id)
    return grant_from_row(row).status(runtime.clock.now())


async def consumption_row(engine: AsyncEngine, consumption_id: str) -> Row[Any]:
    statement = select(consumptions).where(consumptions.c.id == consumption_id)
    async with read_connection(engine) as connection:
        return (await connection.execute(statement)).one()


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """How many rows each table holds: a refused request changes none of them."""
    async with read_connection(engine) as connection:
        return {
            table.name: int(
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in metadata.sorted_tables
        }


def fields_of(error: Any) -> list[tuple[str, ...]]:
    """The field paths a ValidationFailed names, in order."""
    return [issue.field for issue in error.issues]


def amounts(rows: list[Row[Any]]) -> list[tuple[str, int]]:
    return [(row.type, row.amount) for row in rows]
