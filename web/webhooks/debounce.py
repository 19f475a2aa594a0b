"""When each room's `room.changed` is due: `quiet` seconds after its last change, at
the latest `max_wait` seconds after the first change not yet reported, and never
sooner than `interval` seconds after the previous one. Pure: the caller gives times."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Window:
    """Changes of one room not reported yet."""

    first: float
    last: float
    seq: int
    authors: set[str] = field(default_factory=set)
    remote: bool = False  # another node made some: their authors are read from the store


class Debouncer:
    """The open windows and the time each room was last reported."""

    def __init__(self, quiet: float, max_wait: float, interval: float) -> None:
        self.quiet, self.max_wait, self.interval = quiet, max_wait, interval
        self.windows: dict[str, Window] = {}
        self.sent: dict[str, float] = {}

    def change(self, room: str, now: float, seq: int, author: str | None) -> float:
        """Note a change (`author` None: another node's); returns when it is due."""
        window = self.windows.get(room)
        if window is None:
            window = self.windows[room] = Window(now, now, seq)
        window.last = now
        window.seq = max(window.seq, seq)
        if author is None:
            window.remote = True
        else:
            window.authors.add(author)
        return self.due(room)

    def due(self, room: str) -> float:
        """When the room's open window is due (+inf when it has none)."""
        window = self.windows.get(room)
        if window is None:
            return float("inf")
        at = min(window.last + self.quiet, window.first + self.max_wait)
        sent = self.sent.get(room)
        return at if sent is None else max(at, sent + self.interval)

    def take(self, room: str, now: float) -> Window | None:
        """The window when it is due at `now` (then it is closed and `now` is the
        room's last report), else None."""
        if self.due(room) > now:
            return None
        self.sent[room] = now
        for name, at in list(self.sent.items()):  # forget rooms long quiet
            if now - at > self.interval and name not in self.windows:
                del self.sent[name]
        return self.windows.pop(room)

    def put_back(self, room: str, window: Window, not_before: float) -> float:
        """Reopen a taken window (another node reported this room at `not_before` -
        interval); returns when it is due again."""
        open_ = self.windows.get(room)
        if open_ is not None:
            window.last = max(window.last, open_.last)
            window.seq = max(window.seq, open_.seq)
            window.authors |= open_.authors
            window.remote = window.remote or open_.remote
        self.windows[room] = window
        self.sent[room] = not_before - self.interval
        return self.due(room)

    def forget(self, room: str) -> None:
        """Drop what is open for `room` (reset or deleted)."""
        self.windows.pop(room, None)
