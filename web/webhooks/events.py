"""The events, from the rooms (a `RoomListener` on the manager): `room.changed`
(debounced: `debounce.py`; claimed once per cluster: `claims.py`), `room.created`
(the first commit of a room), `presence.joined` / `presence.left` (a client id a
local connection introduced, and its removal: each node reports its own clients),
and `room.reset` / `room.deleted` (from the node that did it, `WebhookEvents.emit`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import uuid
from typing import Any

from storage.types import Store
from sync.awareness import AwarenessEntry
from sync.connection import Connection
from sync.content import text_of
from sync.manager import RoomManager
from sync.room import Room
from sync.types import CommitNotice, RoomListener
from web.webhooks.claims import Claims
from web.webhooks.debounce import Debouncer, Window
from web.webhooks.delivery import WebhookSender

log = logging.getLogger("samepage.webhooks")
AUTHOR_ROWS = 2000  # authors of a report made of other nodes' changes: from the last rows


def _shown(entry: AwarenessEntry) -> tuple[bool, str | None]:
    """Does the client show a state (Yjs clients start with `{}`), and its `user.name`."""
    try:
        state: Any = json.loads(entry.state)
    except ValueError:
        return False, None
    if not isinstance(state, dict) or not state:
        return False, None
    user = state.get("user")
    name = user.get("name") if isinstance(user, dict) else None
    return True, name[:200] if isinstance(name, str) else None


class WebhookEvents(RoomListener):
    """Turns what happens in rooms into events for the sender."""

    def __init__(
        self,
        sender: WebhookSender,
        claims: Claims,
        manager: RoomManager,
        node: str,
        *,
        cluster: bool = False,
    ) -> None:
        settings = sender.settings
        self.sender = sender
        self.claims = claims
        self.manager = manager
        self.store: Store = manager.store
        self.node = node
        self.cluster = cluster  # authors of a report are read from the store
        self.debouncer = Debouncer(settings.quiet, settings.max_wait, settings.interval)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._present: dict[str, dict[int, str | None]] = {}  # room -> our clients' ids

    # -- events ----------------------------------------------------------------------

    def emit(self, kind: str, room: str, data: dict[str, Any]) -> None:
        """Send one event now."""
        self.sender.emit(
            {
                "id": str(uuid.uuid4()),
                "type": kind,
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "room": room,
                "node": self.node,
                "data": data,
            }
        )

    def on_commit(self, notice: CommitNotice) -> None:
        """Our own commits: `room.created` for a room's first (or the first after a
        delete: the name is used again), and a change."""
        first = notice.updates[0]
        room = self.manager.get(notice.room)
        life = room.life if room is not None else None
        new = life is None or life.epoch == 0 or life.deleted
        if new and first[0] == (life.base if life is not None else 0) + 1:
            self.emit("room.created", notice.room, {"seq": first[0], "author": first[2]})
        for seq, _update, author in notice.updates:
            self._changed(notice.room, seq, author)

    def on_remote(self, room: Room, seq: int) -> None:
        """Another node's commit: a change whose author that node knows."""
        self._changed(room.name, seq, None)

    def on_awareness(self, room: Room, owner: object, entries: list[AwarenessEntry]) -> None:
        """Our own clients' presence: a client id showing its first state (Yjs
        clients start with an empty one) joined; its removal (it left, or its
        connection closed) is a departure."""
        if not isinstance(owner, Connection):
            return  # another node's clients: that node reports them
        present = self._present.setdefault(room.name, {})
        for entry in entries:
            if entry.removed:
                if entry.client_id in present:
                    name = present.pop(entry.client_id)
                    self.emit("presence.left", room.name, self._who(entry.client_id, name, owner))
            elif entry.client_id not in present:
                shown, name = _shown(entry)
                if shown:
                    present[entry.client_id] = name
                    who = self._who(entry.client_id, name, owner)
                    self.emit("presence.joined", room.name, who)
        if not present:
            del self._present[room.name]

    @staticmethod
    def _who(client_id: int, name: str | None, conn: Connection) -> dict[str, Any]:
        user_id = conn.identity.user_id
        return {"client_id": client_id, "name": conn.identity.name or name, "user_id": user_id}

    def on_unload(self, room: Room) -> None:
        """An unloaded room has no clients left here."""
        self._present.pop(room.name, None)

    # -- room.changed ----------------------------------------------------------------

    def _changed(self, room: str, seq: int, author: str | None) -> None:
        due = self.debouncer.change(room, time.monotonic(), seq, author)
        if room not in self._timers:
            self._arm(room, due)

    def _arm(self, room: str, due: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[room] = loop.call_at(
            loop.time() + max(0.0, due - time.monotonic()), self._due, room
        )

    def _due(self, room: str) -> None:
        del self._timers[room]
        window = self.debouncer.take(room, time.monotonic())
        if window is None:  # changed since the timer was set: later
            self._arm(room, self.debouncer.due(room))
            return
        task = asyncio.get_running_loop().create_task(self._report(room, window))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, room: str, window: Window) -> None:
        try:
            claim = await self.claims.claim(room, window.seq, self.debouncer.interval)
            if not claim.won:
                if claim.wait_s > 0:  # another node reported it lately: ours comes later
                    due = self.debouncer.put_back(room, window, time.monotonic() + claim.wait_s)
                    if room not in self._timers:
                        self._arm(room, due)
                return
            authors = window.authors
            if self.cluster or window.remote:
                rows = await self.store.updates_range(
                    room, max(claim.after, window.seq - AUTHOR_ROWS), window.seq
                )
                authors = {row.author for row in rows} | authors
            live = self.manager.get(room)
            length = len(text_of(live.doc)) if live is not None else None
            data = {
                "seq": window.seq,
                "after": claim.after,
                "authors": sorted(authors),
                "text_length": length,
            }
            self.emit("room.changed", room, data)
        except Exception as exc:  # Redis or the database down: this report is lost
            log.warning("room.changed of %s not reported: %r", room, exc)

    def on_reset(self, name: str, epoch: int, here: bool) -> None:
        """Changes of the old document not reported yet are moot."""
        self.forget(name)

    def forget(self, room: str) -> None:
        """The room was reset or deleted: what was pending for it is moot."""
        self.debouncer.forget(room)
        timer = self._timers.pop(room, None)
        if timer is not None:
            timer.cancel()

    async def aclose(self) -> None:
        """Report what is due at once, then stop (idempotent)."""
        timers, self._timers = self._timers, {}
        for room, timer in timers.items():
            timer.cancel()
            window = self.debouncer.windows.pop(room, None)
            if window is not None:
                await self._report(room, window)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
