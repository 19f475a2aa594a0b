"""A loopback TCP proxy whose server→client direction can be stalled: a client on a bad
network, as the server sees it (its frames stop being read; the socket fills up)."""

from __future__ import annotations

import asyncio
import contextlib
import socket


class StallingProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`; `stall()` stops reading what the
    server sends (with a small receive buffer, so the server feels it soon), `resume()`
    forwards it all again."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def ws(self) -> str:
        """Base WebSocket URL through the proxy (append `/{room}`)."""
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> None:
        """Stop forwarding (and reading) server → client."""
        self.flowing.clear()

    def resume(self) -> None:
        """Forward server → client again."""
        self.flowing.set()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream = socket.socket()
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        upstream.setblocking(False)
        await asyncio.get_running_loop().sock_connect(upstream, ("127.0.0.1", self.target))
        server_r, server_w = await asyncio.open_connection(sock=upstream, limit=16 * 1024)
        for task in (
            self._pipe(client_r, server_w, gated=False),
            self._pipe(server_r, client_w, gated=True),
        ):
            running = asyncio.ensure_future(task)
            self._tasks.add(running)
            running.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gated: bool
    ) -> None:
        try:
            while True:
                if gated:
                    await self.flowing.wait()
                data = await reader.read(16 * 1024)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def aclose(self) -> None:
        """Stop listening and drop every connection (idempotent)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
