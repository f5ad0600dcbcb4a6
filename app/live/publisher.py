"""Publishers that are not brokers: nowhere (the command line on SQLite), notifying only
(the command line on PostgreSQL) and recording (tests).

The interface every write path calls is `app.services.runtime.Publisher`; the in-memory
broker and the PostgreSQL LISTEN/NOTIFY broker implement it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from app.live.broker import MemoryBroker
from app.live.postgres import notify
from app.storage.engine import is_sqlite

if TYPE_CHECKING:
    from app.domain.events import Committed


class NullPublisher:
    """Publishes nowhere: for the command line and until a broker is configured."""

    async def stage(self, connection: AsyncConnection, committed: Committed) -> None:
        return None

    async def publish(self, committed: Committed) -> None:
        return None


class Notifier(NullPublisher):
    """Notifies running servers and listens to nothing: for the command line on PostgreSQL,
    so a change it commits (`credits sweep`, `demo`) reaches their subscribers too."""

    async def stage(self, connection: AsyncConnection, committed: Committed) -> None:
        await notify(connection, committed)


def publisher_for(database_url: str) -> NullPublisher:
    """What a process that does not serve publishes with."""
    return NullPublisher() if is_sqlite(database_url) else Notifier()


class RecordingPublisher(MemoryBroker):
    """A memory broker that also keeps what was published, in order: for tests."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Committed] = []

    async def publish(self, committed: Committed) -> None:
        self.published.append(committed)
        await super().publish(committed)
