"""The typed per-request context: the runtime, who is asking, and the request's loaders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.domain.ledger import OPEN, Actor
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.settings import Settings

if TYPE_CHECKING:
    from app.api.loaders import Loaders


@dataclass
class Context:
    runtime: Runtime
    settings: Settings
    actor: Actor
    loaders: Loaders
    request: Any = None
    response: Any = None
    request_id: str = ""

    @property
    def now(self) -> datetime:
        return self.loaders.now

    def refresh(self) -> None:
        """New loaders at the current instant, for the answer after a mutation."""
        from app.api.loaders import Loaders

        self.loaders = Loaders(self.runtime, self.settings, self.runtime.clock.now())


async def make_context(
    runtime: Runtime, settings: Settings, request: Any = None, response: Any = None
) -> Context:
    """Book what is due first, so every answer is exact at the instant it describes."""
    from app.api.loaders import Loaders

    await book_due_events(runtime)
    loaders = Loaders(runtime, settings, runtime.clock.now())
    return Context(runtime, settings, OPEN, loaders, request, response)
