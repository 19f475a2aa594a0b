"""Python Yjs clients for tests: pycrdt's Provider over an httpx-ws socket, and a raw
frame-level client for protocol tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from httpx_ws import AsyncWebSocketSession, aconnect_ws
from pycrdt import Doc, Provider, Text
from pycrdt.websocket.websocket import HttpxWebsocket

from sync import protocol


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    """Poll `check` until it is true or fail after `timeout` (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def yclient(ws_base: str, room: str, doc: Doc[Any] | None = None) -> AsyncIterator[Doc[Any]]:
    """A pycrdt `Provider` synced with `ws_base/room`; yields its Doc."""
    doc = doc if doc is not None else Doc()
    doc.get("content", type=Text)
    async with aconnect_ws(f"{ws_base}/{room}", keepalive_ping_interval_seconds=None) as ws:
        async with Provider(doc, HttpxWebsocket(ws, room)) as provider:
            await asyncio.wait_for(provider.synced.wait(), 10)
            yield doc


class RawClient:
    """Frame-level access to a room: send frames, collect decoded messages."""

    def __init__(self, ws: AsyncWebSocketSession) -> None:
        self.ws = ws
        self.messages: list[protocol.Message] = []
        self.close_code: int | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        from httpx_ws import WebSocketDisconnect

        try:
            while True:
                data = await self.ws.receive_bytes()
                self.messages.append(protocol.decode_frame(bytes(data)))
        except WebSocketDisconnect as exc:
            self.close_code = exc.code
        except Exception:
            pass

    async def send(self, frame: bytes) -> None:
        """Send one binary frame."""
        await self.ws.send_bytes(frame)

    def of_type(self, kind: type[Any]) -> list[Any]:
        """Received messages of one type."""
        return [m for m in self.messages if isinstance(m, kind)]

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close us; return the close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def aclose(self) -> None:
        """Stop reading."""
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


@contextlib.asynccontextmanager
async def raw_client(ws_base: str, room: str) -> AsyncIterator[RawClient]:
    """A RawClient connected to `ws_base/room`."""
    async with aconnect_ws(f"{ws_base}/{room}", keepalive_ping_interval_seconds=None) as ws:
        client = RawClient(ws)
        try:
            yield client
        finally:
            await client.aclose()
