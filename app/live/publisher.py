"""The hand-off of committed changes to live subscribers.

Every write path calls `publish` after its transaction commits. The in-memory broker
and the PostgreSQL LISTEN/NOTIFY broker implement this interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from app.services.books import Committed


class Publisher(Protocol):
    async def publish(self, committed: Committed) -> None: ...


class NullPublisher:
    """Publishes nowhere: for the command line and until a broker is configured."""

    async def publish(self, committed: Committed) -> None:
        return None


class RecordingPublisher:
    """Keeps what was published, in order: for tests."""

    def __init__(self) -> None:
        self.published: list[Committed] = []

    async def publish(self, committed: Committed) -> None:
        self.published.append(committed)
