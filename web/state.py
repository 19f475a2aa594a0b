"""What the app's lifespan builds and routes use (Starlette's `app.state.samepage`)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.types import Store
from sync.manager import RoomManager
from web.settings import Settings


@dataclass
class AppState:
    """The long-lived objects of one running app."""

    settings: Settings
    store: Store
    manager: RoomManager
    connections: int = 0
    shutting_down: bool = False
