"""The loader of ledger heads (the last sequence and hash of a customer's ledger)."""

from __future__ import annotations

from datetime import datetime

from app.api.batching import loader
from app.api.errors import bad_input
from app.api.ledger import CreditLedgerHead
from app.api.loaders.base import LoaderBase
from app.domain.hashing import GENESIS
from app.services.runtime import Runtime
from app.settings import Settings
from app.storage.queries import ledger


class HeadLoaders(LoaderBase):
    def __init__(
        self, runtime: Runtime, settings: Settings, now: datetime, scope: str | None = None
    ) -> None:
        super().__init__(runtime, settings, now, scope)
        self._heads = loader(self._load_heads)

    async def ledger_head(self, customer_id: str, currency: str) -> CreditLedgerHead:
        if await self.runtime.catalog.get(currency) is None:
            raise bad_input(f"{currency!r} is not a known currency")
        return await self._heads.load((customer_id, currency))

    async def _load_heads(self, keys: list[tuple[str, str]]) -> list[CreditLedgerHead]:
        """After the customers' due events: the head is the ledger's last entry now."""
        await self.catch_up.customers(k[0] for k in keys)
        async with self.read() as connection:
            found = await ledger.heads(connection, keys)
        heads = [(k[1], *found.get(k, (0, GENESIS))) for k in keys]
        return [CreditLedgerHead(currency=c, sequence=s, hash=h) for c, s, h in heads]
