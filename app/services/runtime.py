"""What every use case needs: the engine, the clock, the currencies and the publisher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.time import Clock
from app.live.publisher import Publisher

if TYPE_CHECKING:
    from app.services.currencies import CurrencyCatalog


@dataclass
class Runtime:
    engine: AsyncEngine
    clock: Clock
    catalog: CurrencyCatalog
    publisher: Publisher
