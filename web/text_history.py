"""The app's text-timeline cache (`storage.texthistory.cache.TextTimelines`): any version's text
in ~1 ms for recently read rooms. The real-time core knows nothing of it: it listens to
the room manager's commits, loads and unloads, and the history routes ask it directly."""

from __future__ import annotations

import asyncio
import logging

from storage.texthistory.cache import TextTimelines
from storage.types import Store
from sync.manager import RoomManager
from sync.room import Room
from sync.types import CommitNotice, RoomListener

log = logging.getLogger("samepage.web")


class TextHistory(RoomListener):
    """Keeps the text timelines of up to `keep` rooms up to date, `every` rows behind
    at most (the rows this node committed come with the commit notices)."""

    def __init__(self, store: Store, manager: RoomManager, keep: int, every: int) -> None:
        self.timelines = TextTimelines(store, keep=keep)
        self._every = max(1, every)
        self._catching_up: dict[str, asyncio.Task[None]] = {}
        manager.add_listener(self)

    async def text_at(self, room: str, seq: int) -> str | None:
        """The `content` text after update `seq`; None when no timeline can say (the
        caller renders the version from stored rows instead)."""
        return await self.timelines.text_at(room, seq)

    def on_load(self, room: Room) -> None:
        if room.seq == 0:  # a new room: its timeline starts empty, for free
            self.timelines.started(room.name)

    def on_unload(self, room: Room) -> None:
        self.timelines.unloaded(room.name)

    def on_reset(self, name: str, epoch: int, here: bool) -> None:
        self.timelines.forget(name)  # the old document's timeline: never read again

    def on_commit(self, notice: CommitNotice) -> None:
        self.timelines.committed(notice.room, [(seq, u) for seq, u, _ in notice.updates])
        room, seq = notice.room, notice.seq
        if room not in self._catching_up and self.timelines.behind(room, seq) >= self._every:
            task = asyncio.get_running_loop().create_task(self._catch_up(room, seq))
            self._catching_up[room] = task

    async def _catch_up(self, room: str, seq: int) -> None:
        try:
            await self.timelines.catch_up(room, seq)
        except Exception as exc:  # the next history read catches up instead
            log.warning("text timeline of %s at %d failed: %s", room, seq, exc)
        finally:
            self._catching_up.pop(room, None)

    async def aclose(self) -> None:
        """Wait for catch-ups in flight, save the timelines (idempotent)."""
        while self._catching_up:
            await asyncio.gather(*self._catching_up.values(), return_exceptions=True)
        await self.timelines.aclose()
