"""The feed behind the live event streams: one `RoomFeed` per followed room replays
each committed update into a private Doc, so every `text` patch is exactly the change
of one seq; presence is reduced to joined / left / typing (`web.presence_view`). Each
follower has a bounded queue (`web.sse.EventStream`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from storage.history import version_parts
from storage.ytext import TextReplay
from sync.awareness import AwarenessEntry
from sync.errors import RoomUnavailable
from sync.room import Room
from sync.types import CommitNotice, Identity, RoomListener
from web.metrics import Metrics
from web.presence_view import PresenceView
from web.sse import EventStream, sse
from web.state import AppState

log = logging.getLogger("samepage.web")


class RoomFeed(RoomListener):
    """Observes one room for its followers; exists while it has followers."""

    def __init__(self, hub: EventHub, room: Room) -> None:
        self.hub = hub
        self.room = room
        self.seq = room.seq
        # The committed state at seq, read from the store and decoded in a thread by
        # `_run` (encoding the live Doc here held the loop ~0.5 s for a million items).
        self.replay: TextReplay | None = None
        self.presence = PresenceView(room.presence.states())
        self.streams: set[EventStream] = set()
        self.ready = asyncio.Event()
        self.closed = False
        self._inbox: deque[CommitNotice | int] = deque()
        self._wakeup = asyncio.Event()
        room.add_listener(self)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"feed-{room.name}")

    def broadcast(self, chunk: bytes) -> None:
        """Queue one event to every follower."""
        for stream in list(self.streams):
            stream.push(chunk)

    def on_commit(self, notice: CommitNotice) -> None:
        self._inbox.append(notice)
        self._wakeup.set()

    def on_awareness(self, _room: Room, _owner: object, entries: list[AwarenessEntry]) -> None:
        for event in self.presence.apply(entries):
            self.broadcast(sse("presence", event))

    def on_ephemeral(self, _room: Room, data: str) -> None:
        try:
            message: Any = json.loads(data)
        except ValueError:
            message = data
        self.broadcast(sse("ephemeral", {"message": message}))

    def on_remote(self, _room: Room, seq: int) -> None:
        # Another node committed it: its row is in the shared database; replay from there.
        self._inbox.append(seq)
        self._wakeup.set()

    def poke(self) -> None:
        """Catch up with seqs committed elsewhere (other cluster nodes) when idle."""
        if self.ready.is_set() and not self._inbox and self.room.seq > self.seq:
            self._inbox.append(self.room.seq)
            self._wakeup.set()

    async def _run(self) -> None:
        try:
            self.replay = await self._rebuild(self.seq)
            self.ready.set()
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._inbox:
                    item = self._inbox.popleft()
                    if isinstance(item, int):
                        await self._fill(item)
                    else:
                        await self._fill(item.updates[0][0] - 1)
                        for seq, update, author in item.updates:
                            self._apply(seq, update, author)
                    self.broadcast(sse("saved", {"seq": self.seq}))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event feed of room %s failed", self.room.name)
            self.close("feed_error")

    async def _rebuild(self, seq: int) -> TextReplay:
        parts = await version_parts(self.hub.state.store, self.room.name, seq)
        return await asyncio.to_thread(TextReplay, parts)  # Yrs releases the GIL

    def _apply(self, seq: int, update: bytes, author: str) -> None:
        if seq <= self.seq or self.replay is None:
            return
        patch = self.replay.apply(seq, update, author)
        self.seq = seq
        self.broadcast(sse("text", {"kind": "patch", **patch}, seq))

    async def _fill(self, upto: int) -> None:
        """Replay stored rows seq+1..upto that no local commit notice carried."""
        if upto <= self.seq:
            return
        rows = await self.hub.state.store.updates_range(self.room.name, self.seq, upto)
        if [r.seq for r in rows] == list(range(self.seq + 1, upto + 1)):
            for row in rows:
                self._apply(row.seq, row.update, row.author)
            return
        # Rows compacted away: start again from a snapshot.
        self.replay = await self._rebuild(upto)
        self.seq = upto
        self.broadcast(
            sse("text", {"kind": "snapshot", "seq": upto, "text": self.replay.text}, upto)
        )

    def close(self, reason: str) -> None:
        """End every stream and stop observing the room."""
        self.closed = True
        self.ready.set()  # wake a follower waiting for a feed that will never be ready
        for stream in list(self.streams):
            stream.end(reason)
        self.hub.forget(self)
        self.room.remove_listener(self)
        self._task.cancel()


class EventHub(RoomListener):
    """The app's room feeds (created on the first follower, dropped with the last)."""

    def __init__(self, state: AppState, metrics: Metrics) -> None:
        self.state = state
        self.metrics = metrics
        self.feeds: dict[str, RoomFeed] = {}
        self.streams = 0
        metrics.sse_streams = lambda: self.streams
        state.manager.add_listener(self)
        state.access.watch(self.enforce_access)

    async def follow(self, room: Room) -> EventStream:
        """A new stream on `room` (which the caller holds)."""
        feed = self.feeds.get(room.name)
        if feed is None or feed.room is not room:
            if feed is not None:
                feed.close("room_reloaded")
            feed = self.feeds[room.name] = RoomFeed(self, room)
        await feed.ready.wait()
        if feed.closed:
            raise RoomUnavailable(f"the event feed of {room.name} is unavailable")
        sync = self.state.settings.sync
        stream = EventStream(feed, sync.outbound_queue_frames, sync.outbound_queue_bytes)
        feed.streams.add(stream)  # same tick as start_seq was read: no gap, no overlap
        self.streams += 1
        return stream

    def unfollow(self, stream: EventStream) -> None:
        """Drop a stream; the feed goes with its last stream."""
        feed = stream.feed
        if stream in feed.streams:
            feed.streams.discard(stream)
            self.streams -= 1
            self.metrics.event_stream_closes.labels(stream.ended or "client_closed").inc()
        if not feed.streams and self.feeds.get(feed.room.name) is feed:
            feed.close("idle")

    def forget(self, feed: RoomFeed) -> None:
        """Unregister a closing feed."""
        if self.feeds.get(feed.room.name) is feed:
            del self.feeds[feed.room.name]

    def on_unload(self, room: Room) -> None:
        feed = self.feeds.get(room.name)
        if feed is not None and feed.room is room:
            feed.close("room_failed" if room.failed else "room_unloaded")

    def enforce_access(self, refusal: Callable[[Identity, str], str | None]) -> int:
        """End the streams whose token is revoked (AccessControl calls this on every
        change); returns how many."""
        return sum(
            stream.end_if_refused(refusal)
            for feed in list(self.feeds.values())
            for stream in list(feed.streams)
        )

    def on_reset(self, name: str, epoch: int, here: bool) -> None:
        feed = self.feeds.get(name)
        if feed is not None:  # followers reconnect and replay the new document
            feed.close("room_reset")

    def close_all(self) -> None:
        """End every stream (shutdown): clients reconnect with Last-Event-ID."""
        for feed in list(self.feeds.values()):
            feed.close("shutting_down")
