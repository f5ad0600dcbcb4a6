"""The typed per-request context: the runtime, who is asking, and the request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.domain.access import Viewer
from app.domain.ledger import Actor
from app.services.runtime import Runtime
from app.settings import Settings

if TYPE_CHECKING:
    from app.api.loaders import Loaders

NOBODY = "nobody"  # a scope no customer id matches


@dataclass
class Context:
    runtime: Runtime
    settings: Settings
    viewer: Viewer | None
    loaders: Loaders
    request: Any = None
    response: Any = None
    request_id: str = ""
    connection_params: Any = None  # a WebSocket's connection_init payload
    subscriptions: int = 0  # live subscriptions on this WebSocket
    tasks: list[Any] = field(default_factory=list)  # keeps this socket's timers alive

    @property
    def now(self) -> datetime:
        return self.loaders.now

    @property
    def actor(self) -> Actor:
        assert self.viewer is not None, "an unauthenticated request reached a resolver"
        return self.viewer.actor

    def refresh(self) -> None:
        """New loaders at the current instant (after a mutation, or for each live event)."""
        self.loaders = self.fresh_loaders()

    def fresh_loaders(self) -> Loaders:
        from app.api.loaders import Loaders

        # No viewer (a request that slipped past authentication) sees no customer at all.
        scope = self.viewer.customer_id if self.viewer else NOBODY
        return Loaders(self.runtime, self.settings, self.runtime.clock.now(), scope)

    def see(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.refresh()


async def make_context(
    runtime: Runtime,
    settings: Settings,
    viewer: Viewer | None,
    request: Any = None,
    response: Any = None,
) -> Context:
    """The request's context. Nothing is booked here: the loaders book the due events of
    the customers a request reads (`app.api.catch_up`), mutations those of the customer
    they write, and the scheduler the rest (docs/concepts.md, "The ledger")."""
    context = Context(runtime, settings, viewer, None, request, response)  # type: ignore[arg-type]
    context.refresh()
    return context
