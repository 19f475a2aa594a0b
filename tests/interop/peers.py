"""Python-side peers and document probes shared by the interop, property and durability
tests: a pycrdt `Provider` client that can disconnect and reconnect (and notices when the
server goes away), and readers of the live room and of the stored document."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
from httpx_ws import aconnect_ws
from pycrdt import Doc, Provider, Text
from pycrdt.websocket.websocket import HttpxWebsocket

from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from sync.protocol import decode_state_vector

StateVector = dict[int, int]


def state_vector(doc: Doc[Any]) -> StateVector:
    """A pycrdt Doc's state vector as {client: clock}."""
    return decode_state_vector(doc.get_state())


def text_of(doc: Doc[Any]) -> str:
    """The `content` text of a Doc."""
    return str(doc.get("content", type=Text))


def dominates(big: StateVector, small: StateVector) -> bool:
    """Does `big` contain every (client, clock) of `small`?"""
    return all(big.get(client, 0) >= clock for client, clock in small.items())


def doc_from_update(update: bytes) -> Doc[Any]:
    """A fresh Doc with `update` applied."""
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text)
    if update:
        doc.apply_update(update)
    return doc


async def live_doc(http_base: str, room: str) -> Doc[Any]:
    """The room as the running server holds it (`GET .../content?format=yjs`)."""
    async with httpx.AsyncClient(base_url=http_base, timeout=10) as http:
        response = await http.get(f"/api/rooms/{room}/content", params={"format": "yjs"})
        response.raise_for_status()
        return doc_from_update(response.content)


async def stored_doc(db: str | Path, room: str) -> Doc[Any]:
    """The room as the SQLite file holds it, read with the storage layer (`SqlStore.load`:
    latest checkpoint + the updates after it)."""
    store = SqlStore(database_url(str(db)))
    await store.start()
    try:
        loaded = await store.load(room)
    finally:
        await store.aclose()
    doc = doc_from_update(loaded.checkpoint or b"")
    for update in loaded.tail:
        doc.apply_update(update)
    return doc


class _WatchedChannel(HttpxWebsocket):
    """pycrdt's httpx-ws channel, plus an event set when the socket stops delivering
    (the Provider itself just stops reading silently)."""

    def __init__(self, websocket: Any, path: str) -> None:
        super().__init__(websocket, path)
        self.lost = asyncio.Event()

    async def recv(self) -> bytes:
        try:
            return await super().recv()
        except BaseException:
            self.lost.set()
            raise


class PyPeer:
    """A pycrdt Doc synced through pycrdt's `Provider`; survives disconnects: `connect()`
    again after `disconnect()` or after the server went away, and the Provider's sync
    step 1/2 exchange sends what either side missed."""

    def __init__(self, ws_base: str, room: str, name: str = "py") -> None:
        self.ws_base = ws_base
        self.room = room
        self.name = name
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)
        self.synced = asyncio.Event()
        self.error: BaseException | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """Is a connection running (synced or not)?"""
        return self._task is not None and not self._task.done()

    async def connect(self, timeout: float = 10.0) -> None:
        """Open a connection and wait for the initial sync."""
        if self.connected:
            return
        self.synced = asyncio.Event()
        self._stop = asyncio.Event()
        self.error = None
        self._task = asyncio.get_running_loop().create_task(self._run())
        done = asyncio.get_running_loop().create_task(self.synced.wait())
        await asyncio.wait({done, self._task}, timeout=timeout, return_when="FIRST_COMPLETED")
        done.cancel()
        if not self.synced.is_set():
            await self.disconnect()
            raise AssertionError(f"{self.name} did not sync in {timeout}s: {self.error!r}")

    async def _run(self) -> None:
        try:
            url = f"{self.ws_base}/{self.room}"
            async with aconnect_ws(url, keepalive_ping_interval_seconds=None) as ws:
                channel = _WatchedChannel(ws, self.room)
                async with Provider(self.doc, channel) as provider:
                    synced = asyncio.ensure_future(provider.synced.wait())
                    synced.add_done_callback(lambda _f: self.synced.set())
                    stop = asyncio.ensure_future(self._stop.wait())
                    lost = asyncio.ensure_future(channel.lost.wait())
                    try:
                        await asyncio.wait({stop, lost}, return_when="FIRST_COMPLETED")
                    finally:
                        for task in (synced, stop, lost):
                            task.cancel()
        except Exception as exc:  # the server went away mid-send, or refused us
            self.error = exc

    async def disconnect(self) -> None:
        """Close the connection (the Doc is kept)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 5)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def insert_at(self, fraction: float, content: str) -> None:
        """Insert at `fraction` of the current length."""
        self.text.insert(int(fraction * len(self.text)), content)

    def delete_at(self, fraction: float, length: int) -> None:
        """Delete up to `length` characters from `fraction` of the current length."""
        start = int(fraction * len(self.text))
        end = min(len(self.text), start + length)
        if end > start:
            del self.text[start:end]
