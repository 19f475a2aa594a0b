"""A bare broadcast relay on Starlette + uvicorn: no CRDT, no storage.

It answers a client's sync step 1 with an empty step 2 (so y-websocket clients finish
their handshake) and forwards every other frame to the other sockets of the room through
the same per-connection queue + writer task shape samepage uses. It is the ceiling of our
own transport stack: `python -m bench.peers.relay PORT`.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

EMPTY_STEP2 = bytes([0, 1, 2, 0, 0])  # sync, step 2, an empty update (2 bytes: 0 0)


class Peer:
    """One socket with its outbound queue and writer task."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.queue: deque[bytes] = deque()
        self.wakeup = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self.write_loop())

    def send(self, frame: bytes) -> None:
        """Queue a frame without waiting."""
        self.queue.append(frame)
        self.wakeup.set()

    async def write_loop(self) -> None:
        """Drain the queue into the socket."""
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                await self.websocket.send_bytes(self.queue.popleft())


def create_app() -> Starlette:
    """The relay app: one route, rooms kept in a dict."""
    rooms: dict[str, set[Peer]] = {}

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        name = websocket.path_params["room"]
        peer = Peer(websocket)
        room = rooms.setdefault(name, set())
        room.add(peer)
        try:
            while True:
                message = await websocket.receive()
                data = message.get("bytes")
                if data is None:
                    break
                if data[:2] == b"\x00\x00":  # sync step 1: nothing to send back
                    peer.send(EMPTY_STEP2)
                    continue
                for other in room:
                    if other is not peer:
                        other.send(data)
        finally:
            room.discard(peer)
            if not room:
                rooms.pop(name, None)
            peer.task.cancel()

    return Starlette(routes=[WebSocketRoute("/{room:path}", endpoint)])


def main() -> None:
    """Serve on 127.0.0.1:PORT with the same uvicorn settings as samepage."""
    port = int(sys.argv[1])
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
