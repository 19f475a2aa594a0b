"""What the app's lifespan builds and routes use (Starlette's `app.state.samepage`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storage.types import Store
from sync.manager import RoomManager
from web.access import AccessControl
from web.offload import Offload
from web.settings import Settings
from web.text_history import TextHistory

if TYPE_CHECKING:
    from web.feed import EventHub
    from web.webhooks.service import Webhooks


@dataclass
class AppState:
    """The long-lived objects of one running app."""

    settings: Settings
    store: Store
    manager: RoomManager
    text_history: TextHistory  # any version's text, fast (text timelines)
    access: AccessControl  # revocations and grants, enforced live
    offload: Offload = field(default_factory=Offload)  # worker processes for big documents
    # Probes left to finish after their deadline (web/health.py), referenced until done
    background: set[asyncio.Task[None]] = field(default_factory=set)
    connections: int = 0
    connections_opened: int = 0  # WebSockets admitted to a room since the start
    shutting_down: bool = False
    events: EventHub | None = None  # the SSE feeds, ended when shutdown begins
    webhooks: Webhooks | None = None  # with --webhook (docs/webhooks.md)

    def connection_opened(self) -> None:
        """A WebSocket joined a room."""
        self.connections += 1
        self.connections_opened += 1

    def begin_shutdown(self) -> None:
        """Mark the app as stopping and end the event streams (idempotent)."""
        self.shutting_down = True
        if self.events is not None:
            self.events.close_all()
