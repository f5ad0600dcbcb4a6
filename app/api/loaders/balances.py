"""Loaders of balances (now, at an instant, or as of one change) and upcoming expirations."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from app.api.balances import CreditBalance, CreditExpiration
from app.api.batching import group, loader
from app.api.errors import bad_input
from app.api.loaders.base import LoaderBase
from app.domain.balances import Balance
from app.domain.time import Duration, add_duration
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.balances import empty_balance, read_balance, read_balances
from app.storage.queries import grants

Until = tuple[str, datetime, str | None]  # customer, instant, currency or feature


class BalanceLoaders(LoaderBase):
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        super().__init__(runtime, settings, now, scope)
        self._balances = loader(self._load_balances)
        self._expirations = loader(self._load_expirations)

    async def balances(
        self, customer_id: str, at: datetime | None, feature_key: str | None
    ) -> list[CreditBalance]:
        return await self._balances.load((customer_id, self.instant(at), feature_key))

    async def balance(
        self, customer_id: str, currency: str, at: datetime | None, feature_key: str | None
    ) -> CreditBalance:
        known = await self.runtime.catalog.get(currency)
        if known is None:
            raise bad_input(f"{currency!r} is not a known currency")
        instant = self.instant(at)
        for balance in await self._balances.load((customer_id, instant, feature_key)):
            if balance.currency == currency:
                return balance
        zero = empty_balance(customer_id, currency, instant, feature_key)
        return CreditBalance.from_balance(zero, known.scale)

    async def balance_after(
        self, customer_id: str, currency: str, at: datetime, sequence: int | None
    ) -> CreditBalance:
        """The balance as of one committed change (its instant and its last sequence)."""
        async with self.read() as connection:
            balance = await read_balance(connection, customer_id, currency, at, sequence)
        scales = await self.scales([currency])
        return CreditBalance.from_balance(balance, scales[currency])

    async def expirations(
        self, customer_id: str, within: Duration, currency: str | None
    ) -> list[CreditExpiration]:
        try:
            until = add_duration(self.now, within)
        except (OverflowError, ValueError) as error:
            raise bad_input("within is out of range") from error
        return await self._expirations.load((customer_id, until, currency))

    async def _load_balances(self, keys: list[Until]) -> list[list[CreditBalance]]:
        await self.catch_up.customers(k[0] for k in keys)
        found: list[Balance] = []
        for (at, feature_key), batch in group(keys, lambda k: (k[1], k[2])).items():
            async with self.read() as connection:
                read = await read_balances(connection, [k[0] for k in batch], at, feature_key)
            found.extend(read.values())
        scales = await self.scales({b.currency for b in found})
        results: dict[Until, list[CreditBalance]] = defaultdict(list)
        for balance in found:
            key = (balance.customer_id, balance.at, balance.feature_key)
            results[key].append(CreditBalance.from_balance(balance, scales[balance.currency]))
        return [results[key] for key in keys]

    async def _load_expirations(self, keys: list[Until]) -> list[list[CreditExpiration]]:
        await self.catch_up.customers(k[0] for k in keys)
        results: dict[Until, list[CreditExpiration]] = defaultdict(list)
        for (until, currency), batch in group(keys, lambda k: (k[1], k[2])).items():
            customer_ids = [k[0] for k in batch]
            async with self.read() as connection:
                rows = await grants.expiring(connection, customer_ids, self.now, until, currency)
            made = await self.grant_objects(rows)
            for row in rows:
                expiration = CreditExpiration.of_grant(made[row.id])
                results[(row.customer_id, until, currency)].append(expiration)
        return [results[key] for key in keys]
