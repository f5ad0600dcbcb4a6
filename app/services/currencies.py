"""Currencies: ISO 4217 from the iso4217 package, custom credit units from the database.

ISO codes without minor units (gold, SDR and the like) cannot hold an exact amount
in a smallest unit, so they are not offered as credit currencies.
"""

from __future__ import annotations

import iso4217
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.errors import Issues, KeyConflict
from app.domain.money import CUSTOM_CODE, Currency
from app.domain.validation import check_text
from app.services.runtime import Runtime
from app.storage.engine import read_connection, write_transaction
from app.storage.tables import currencies


def iso_currencies() -> dict[str, Currency]:
    found = {}
    for item in iso4217.Currency:
        if item.exponent is not None:
            found[item.code] = Currency(item.code, item.currency_name, item.exponent, False)
    return found


class CurrencyCatalog:
    """Every known currency. Custom units are immutable once created, so caching is safe."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.iso = iso_currencies()
        self.custom: dict[str, Currency] = {}

    def cached(self, code: str) -> Currency | None:
        """A currency known without a read (every ISO one, custom units once read)."""
        return self.iso.get(code) or self.custom.get(code)

    # `connection`: a read transaction the caller is in, for a unit new to the catalog
    async def get(self, code: str, connection: AsyncConnection | None = None) -> Currency | None:
        found = self.iso.get(code) or self.custom.get(code)
        if found is None and CUSTOM_CODE.fullmatch(code):
            await self.refresh(connection)
            found = self.custom.get(code)
        return found

    async def get_many(
        self, codes: set[str], connection: AsyncConnection | None = None
    ) -> dict[str, Currency]:
        found = {code: c for code in codes if (c := self.iso.get(code) or self.custom.get(code))}
        if len(found) < len(codes):
            await self.refresh(connection)
            found |= {code: self.custom[code] for code in codes if code in self.custom}
        return found

    async def refresh(self, connection: AsyncConnection | None = None) -> None:
        if connection is None:
            async with read_connection(self.engine) as connection:
                await self.refresh(connection)
            return
        for row in await connection.execute(select(currencies)):
            self.custom[row.code] = Currency(row.code, row.name, row.scale, True)

    async def all(self) -> list[Currency]:
        await self.refresh()
        return sorted([*self.iso.values(), *self.custom.values()], key=lambda c: c.code)


async def create_custom_currency(
    runtime: Runtime, *, code: str, name: str, scale: int
) -> tuple[Currency, bool]:
    """Create a custom credit unit; its code is its key. Returns it and whether it was a replay."""
    issues = Issues()
    if not CUSTOM_CODE.fullmatch(code):
        issues.add(("input", "code"), "must be 4 to 24 characters of A-Z, 0-9 and '_'")
    elif code in runtime.catalog.iso:
        issues.add(("input", "code"), f"{code} is an ISO 4217 currency")
    check_text(issues, ("input", "name"), name, low=1, high=256)
    if not 0 <= scale <= 9:
        issues.add(("input", "scale"), "must be between 0 and 9")
    issues.raise_any()
    try:
        return await _create(runtime, code, name, scale)
    except IntegrityError:  # a concurrent request with the same code won the race
        return await _create(runtime, code, name, scale)


async def _create(runtime: Runtime, code: str, name: str, scale: int) -> tuple[Currency, bool]:
    async with write_transaction(runtime.engine) as connection:
        row = (
            await connection.execute(select(currencies).where(currencies.c.code == code))
        ).first()
        if row is not None:
            if (row.name, row.scale) != (name, scale):
                raise KeyConflict(code)
            return Currency(code, row.name, row.scale, True), True
        values = {"code": code, "name": name, "scale": scale, "created_at": runtime.clock.now()}
        await connection.execute(insert(currencies).values(values))
    currency = Currency(code, name, scale, True)
    runtime.catalog.custom[code] = currency
    return currency, False
