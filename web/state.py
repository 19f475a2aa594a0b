"""What the app's lifespan builds and routes use (Starlette's `app.state.samepage`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from storage.types import Store
from sync.manager import RoomManager
from web.offload import Offload
from web.settings import Settings
from web.text_history import TextHistory


@dataclass
class AppState:
    """The long-lived objects of one running app."""

    settings: Settings
    store: Store
    manager: RoomManager
    text_history: TextHistory  # any version's text, fast (text timelines)
    offload: Offload = field(default_factory=Offload)  # worker processes for big documents
    connections: int = 0
    connections_opened: int = 0  # WebSockets admitted to a room since the start
    shutting_down: bool = False
    # Called once when shutdown begins (e.g. the event feed ends its streams).
    shutdown_hooks: list[Callable[[], None]] = field(default_factory=list)

    def connection_opened(self) -> None:
        """A WebSocket joined a room."""
        self.connections += 1
        self.connections_opened += 1

    def begin_shutdown(self) -> None:
        """Mark the app as stopping and run the shutdown hooks (idempotent)."""
        self.shutting_down = True
        hooks, self.shutdown_hooks = self.shutdown_hooks, []
        for hook in hooks:
            hook()
