"""The text timelines of recently read rooms: built once from the stored rows (or read
back from the snapshot saved last), then kept up to date every few hundred commits, so
any version's text is a filter away."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import OrderedDict

from storage.texthistory.timeline import TextTimeline, TimelineUnsupported
from storage.texthistory.units import FrozenText
from storage.types import Store, UpdateRecord
from storage.ytext import TEXT_ROOT

log = logging.getLogger("samepage.storage")
CHUNK = 250  # rows fetched at a time (a few ms of the event loop each)
INLINE_ROWS = 500  # more rows than this (or bytes) are integrated in a worker thread
INLINE_BYTES = 256 * 1024
GIL_ROWS = 32  # rows (~0.3 ms) a worker thread applies before it lets the loop run
SAVE_EVERY = 50_000  # rows between two saved snapshots of a live timeline
MAX_BUFFER = 20_000  # committed rows kept for a catch-up


def _contiguous_from(rows: list[UpdateRecord], upto: int) -> int:
    """The first seq of the unbroken run of rows that ends at `upto` (upto + 1 when
    row `upto` itself is gone): before it, compaction deleted rows."""
    if not rows or rows[-1].seq != upto:
        return upto + 1
    for index in range(len(rows) - 1, 0, -1):
        if rows[index].seq != rows[index - 1].seq + 1:
            return rows[index].seq
    return rows[0].seq


Row = tuple[int, bytes]  # (seq, update)


class _Entry:
    __slots__ = (
        *("buffer", "building", "cancelled", "frozen", "loaded"),
        *("lock", "saved", "stopped", "timeline"),
    )

    def __init__(self, timeline: TextTimeline | None) -> None:
        self.timeline = timeline  # None until built
        self.stopped = False  # hit an update it cannot follow: it answers up to its seq
        self.lock = asyncio.Lock()
        self.building: asyncio.Task[None] | None = None
        self.buffer: list[Row] = []  # committed rows seen here, not applied yet
        self.cancelled = False  # its build is to stop (it may run in a worker thread)
        self.frozen: FrozenText | None = None  # the saved snapshot, until it is built
        self.loaded = False  # looked for a saved snapshot
        self.saved = -1  # seq of the last snapshot saved

    def cancel(self) -> None:
        """Stop its build, if one is running."""
        if self.building is not None and not self.building.done():
            self.cancelled = True
            self.building.cancel()


class TextTimelines:
    """Per room a `TextTimeline` (at most `keep` rooms, least recently used dropped).

    A room new to the store starts with an empty one (`started`); any other room's is
    built from its rows (~10 µs a row) in the background from its first history read on,
    while the snapshot saved last (after a build, every SAVE_EVERY rows, at unload and at
    shutdown) answers the versions up to its seq. What neither can answer — a version
    after the snapshot before the build is done, below a compaction cutoff, or past an
    update the timeline cannot follow — is None: the caller rebuilds it in Yrs."""

    def __init__(self, store: Store, keep: int = 8, root: str = TEXT_ROOT) -> None:
        self._store = store
        self._keep = keep
        self._root = root
        self._rooms: OrderedDict[str, _Entry] = OrderedDict()
        self._saving: set[asyncio.Task[None]] = set()
        self.builds = 0  # timelines built from stored rows
        self.answered = 0  # reads it answered
        self.declined = 0  # reads left to Yrs (not built yet, compacted, stopped)

    @property
    def kept(self) -> int:
        """Rooms with a timeline in memory."""
        return sum(1 for entry in self._rooms.values() if entry.timeline is not None)

    def started(self, room: str) -> None:
        """`room` has no stored update yet: its timeline starts empty, for free."""
        if self._keep > 0 and room not in self._rooms:
            self._remember(room, _Entry(TextTimeline(self._root)))

    def committed(self, room: str, rows: list[Row]) -> None:
        """Rows this node just committed: kept for the next catch-up, which then need
        not read them back from the database (bounded: past MAX_BUFFER it reads them)."""
        entry = self._rooms.get(room)
        if entry is None or entry.timeline is None or entry.stopped:
            return
        if len(entry.buffer) > MAX_BUFFER:
            entry.buffer.clear()
        entry.buffer.extend(rows)

    def behind(self, room: str, seq: int) -> int:
        """How many updates up to `seq` the room's timeline has not applied (0: none
        kept, or stopped)."""
        entry = self._rooms.get(room)
        if entry is None or entry.timeline is None or entry.stopped:
            return 0
        return max(0, seq - entry.timeline.seq)

    async def catch_up(self, room: str, seq: int) -> None:
        """Apply the rows up to `seq` to the room's timeline, if one is kept."""
        entry = self._rooms.get(room)
        if entry is not None and entry.timeline is not None:
            async with entry.lock:
                await self._advance(room, entry, seq)
            if entry.timeline is not None and entry.timeline.seq - entry.saved >= SAVE_EVERY:
                self._save_soon(room, entry)

    async def text_at(self, room: str, seq: int, *, wait: bool = False) -> str | None:
        """The `content` text after update `seq`, or None when the timeline cannot say
        (yet: a room's first read starts its build, which `wait` waits for)."""
        if self._keep <= 0:
            self.declined += 1
            return None
        entry = self._rooms.get(room)
        if entry is None:
            entry = self._remember(room, _Entry(None))
        else:
            self._rooms.move_to_end(room)
        if entry.timeline is None:
            frozen = await self._saved(room, entry)
            if entry.building is None and entry.timeline is None:
                entry.building = asyncio.get_running_loop().create_task(self._build(room, entry))
            if (
                not wait
                and frozen is not None
                and frozen.base <= seq <= frozen.seq
                and await self._row_kept(room, seq, frozen.base)
            ):
                self.answered += 1
                return frozen.text_at(seq)
            if not wait:
                self.declined += 1
                return None
            if entry.building is not None:
                await asyncio.shield(entry.building)
        async with entry.lock:
            timeline = entry.timeline
            if timeline is not None and seq > timeline.seq:
                await self._advance(room, entry, seq)
            if (
                timeline is None
                or not timeline.base <= seq <= timeline.seq
                or not await self._row_kept(room, seq, timeline.base)
            ):
                self.declined += 1
                return None
            self.answered += 1
            return timeline.text_at(seq)

    async def _saved(self, room: str, entry: _Entry) -> FrozenText | None:
        """The room's saved snapshot (looked for once): it answers the versions up to
        its seq while the timeline is built."""
        if not entry.loaded:
            entry.loaded = True
            found = await self._store.load_text_timeline(room)
            if found is not None:
                base, seq, data = found
                try:
                    entry.frozen = await asyncio.to_thread(FrozenText, base, seq, data)
                    entry.saved = seq
                except (ValueError, zlib.error) as exc:
                    log.warning("saved text timeline of %s unreadable: %s", room, exc)
        return entry.frozen

    def forget(self, room: str) -> None:
        """The room was reset or deleted: drop its timeline, unsaved (its next read
        builds the new document's from the checkpoint at the new epoch's base)."""
        entry = self._rooms.pop(room, None)
        if entry is not None:
            entry.cancel()

    def unloaded(self, room: str) -> None:
        """The room was unloaded: save its timeline if it moved since the last save."""
        entry = self._rooms.get(room)
        if entry is not None:
            self._save_soon(room, entry)

    def _save_soon(self, room: str, entry: _Entry) -> None:
        timeline = entry.timeline
        if timeline is None or timeline.seq <= max(entry.saved, timeline.base):
            return
        task = asyncio.get_running_loop().create_task(self._save(room, entry))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def _save(self, room: str, entry: _Entry) -> None:
        """Store a snapshot of the room's timeline (compressed in a worker thread)."""
        try:
            async with entry.lock:
                timeline = entry.timeline
                if timeline is None or timeline.seq <= entry.saved:
                    return
                data = await asyncio.to_thread(timeline.snapshot)
                await self._store.save_text_timeline(room, timeline.base, timeline.seq, data)
                entry.saved = timeline.seq
        except Exception as exc:  # a missed snapshot only costs a rebuild after a restart
            log.warning("saving the text timeline of %s failed: %s", room, exc)

    async def _row_kept(self, room: str, seq: int, base: int) -> bool:
        """Is update `seq` still stored? After a `samepage compact` (run by another
        process) a folded version resolves to the kept point before it, so the exact
        text this timeline still holds would disagree with the other formats and the
        CLI: such versions are left to the Yrs rebuild."""
        if seq == base:
            return True
        return bool(await self._store.updates_range(room, seq - 1, seq))

    async def aclose(self) -> None:
        """Stop the builds in flight (idempotent)."""
        entries = [e for e in self._rooms.values() if e.building is not None]
        for entry in entries:
            entry.cancel()
        builds = [e.building for e in entries if e.building is not None]
        for room, entry in self._rooms.items():  # a restart reads these at once
            self._save_soon(room, entry)
        builds += list(self._saving)
        await asyncio.gather(*builds, return_exceptions=True)

    def _remember(self, room: str, entry: _Entry) -> _Entry:
        self._rooms[room] = entry
        self._rooms.move_to_end(room)
        while len(self._rooms) > self._keep:
            _, dropped = self._rooms.popitem(last=False)
            dropped.cancel()
        return entry

    async def _rows(self, room: str, after: int, upto: int) -> list[UpdateRecord]:
        rows: list[UpdateRecord] = []
        while after < upto:
            chunk = await self._store.updates_range(room, after, min(upto, after + CHUNK))
            rows.extend(chunk)
            after = min(upto, after + CHUNK)
        return rows

    async def _rows_after(self, room: str, entry: _Entry, after: int, upto: int) -> list[Row]:
        """Rows (after, upto]: from the buffer while it holds them in order, the rest
        (rows other nodes committed, or a dropped buffer) from the database."""
        rows: list[Row] = []
        for seq, update in entry.buffer:
            if seq == after + len(rows) + 1 and seq <= upto:
                rows.append((seq, update))
        entry.buffer = [row for row in entry.buffer if row[0] > upto]
        start = after + len(rows)
        if start < upto:
            rows.extend((r.seq, r.update) for r in await self._rows(room, start, upto))
        return rows

    async def _build(self, room: str, entry: _Entry) -> None:
        try:
            async with entry.lock:
                await self._build_locked(room, entry)
        except Exception as exc:  # reads go on through Yrs
            log.warning("text timeline of %s failed: %s", room, exc)
            entry.stopped = True

    async def _build_locked(self, room: str, entry: _Entry) -> None:
        """A timeline up to the room's head from its first row — or, where compaction
        deleted rows, from the checkpoint that ends the last gap."""
        started = time.perf_counter()
        info = await self._store.room_info(room)
        upto = info.seq if info is not None else 0
        rows = await self._rows(room, 0, upto)
        at = _contiguous_from(rows, upto)
        base = 0
        timeline = TextTimeline(self._root)
        if at > 1:
            checkpoint = await self._store.checkpoint_before(room, at)
            if checkpoint is None or checkpoint[0] < at - 1:
                return
            base = checkpoint[0]
            timeline = TextTimeline(self._root, base)
            try:  # a full state: thousands of structs, off the event loop
                await asyncio.to_thread(timeline.apply, base, checkpoint[1])
            except TimelineUnsupported as exc:
                log.info("no text timeline for %s: %s", room, exc)
                return
        later = [(r.seq, r.update) for r in rows if r.seq > base]
        entry.stopped = not await self._apply(room, timeline, later, entry)
        entry.timeline = timeline  # only now: reads meanwhile go to Yrs, not to the lock
        entry.frozen = None
        self.builds += 1
        if timeline.seq - max(entry.saved, base) >= SAVE_EVERY // 10:
            self._save_soon(room, entry)
        log.info(
            "text timeline of %s: %d rows from seq %d in %.0f ms",
            room,
            len(rows),
            base,
            (time.perf_counter() - started) * 1000,
        )

    async def _advance(self, room: str, entry: _Entry, upto: int) -> None:
        timeline = entry.timeline
        if timeline is None or entry.stopped or upto <= timeline.seq:
            return
        rows = await self._rows_after(room, entry, timeline.seq, upto)
        if [seq for seq, _ in rows] != list(range(timeline.seq + 1, upto + 1)):
            # Another process compacted the room: rows it needs were folded. Start
            # again (the next read builds it from the checkpoint that covers them).
            log.info(
                "text timeline of %s: rows after %d were compacted; rebuilding", room, timeline.seq
            )
            entry.timeline, entry.buffer, entry.building = None, [], None
            return
        entry.stopped = not await self._apply(room, timeline, rows, entry)

    async def _apply(
        self, room: str, timeline: TextTimeline, rows: list[Row], entry: _Entry
    ) -> bool:
        """Apply `rows` in order (False when the timeline had to stop): a catch-up's
        few hundred small rows inline (~5 ms), a build's thousands — or one huge
        update — in a worker thread, so the event loop never stalls on them. The
        timeline is not shared meanwhile: the caller holds its lock, or it is not
        published yet."""
        if len(rows) <= INLINE_ROWS and sum(len(u) for _, u in rows) <= INLINE_BYTES:
            return _apply_now(room, timeline, rows, entry)
        return await asyncio.to_thread(_apply_now, room, timeline, rows, entry)


def _apply_now(room: str, timeline: TextTimeline, rows: list[Row], entry: _Entry) -> bool:
    """Apply `rows` in order, here and now; False when the timeline had to stop."""
    for index, (seq, update) in enumerate(rows):
        if entry.cancelled or seq != timeline.seq + 1:  # or a gap: rows compacted
            return False
        if index % GIL_ROWS == GIL_ROWS - 1:
            # In a worker thread: hand the GIL to the event loop now, not after the
            # 5 ms switch interval, or each step of a request waits that long.
            time.sleep(0)
        try:
            timeline.apply(seq, update)
        except TimelineUnsupported as exc:
            # Everything before it is still exact (its changes carry a later seq).
            log.info("text timeline of %s stops at %d: %s", room, timeline.seq, exc)
            return False
    return True
