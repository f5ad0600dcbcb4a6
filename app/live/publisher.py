"""The hand-off of committed changes to live subscribers.

Every write path calls `publish` after its transaction commits. The in-memory broker
and the PostgreSQL LISTEN/NOTIFY broker implement this interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from app.live.broker import MemoryBroker

if TYPE_CHECKING:
    from app.domain.events import Committed


class Publisher(Protocol):
    async def publish(self, committed: Committed) -> None: ...


class NullPublisher:
    """Publishes nowhere: for the command line and until a broker is configured."""

    async def publish(self, committed: Committed) -> None:
        return None


class RecordingPublisher(MemoryBroker):
    """A memory broker that also keeps what was published, in order: for tests."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Committed] = []

    async def publish(self, committed: Committed) -> None:
        self.published.append(committed)
        await super().publish(committed)
