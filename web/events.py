"""Live event feed: `GET /api/rooms/{room}/events` (Server-Sent Events) and
`POST /api/rooms/{room}/ephemeral`.

One `RoomFeed` per room with followers replays every committed update into a private
Doc, so each `text` patch is exactly the change of one seq (a follower applying the
patches in order to the first text reproduces the document). Event id = seq; a client
reconnecting with `Last-Event-ID: N` gets the patches N+1.. rebuilt from the store.
Each stream has a bounded queue: a reader that falls behind is disconnected, like a
slow WebSocket client, and resumes with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from storage.history import version_parts
from storage.ytext import replay_patches
from sync.connection import Connection
from sync.protocol import SubscribeFlag, encode_ephemeral
from sync.room import Room
from sync.types import Identity
from web.bodies import parse_json, read_body
from web.errors import HTTPError
from web.feed import EventHub
from web.offload import OffloadError
from web.params import parse_count, room_and_identity
from web.sse import EventStream, end_at_expiry, sse
from web.state import AppState

log = logging.getLogger("samepage.web")

HEARTBEAT_S = 15.0
MAX_REPLAY = 1000  # a follower further behind gets a snapshot instead of the patches
RETRY_MS = 1000


def last_event_id(request: Request) -> int | None:
    """`Last-Event-ID` header (EventSource sends it on reconnect) or `?last_event_id=`."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    return None if raw is None else parse_count(raw.strip())


class EventStreamResponse(Response):
    """Streams one follower's events until it leaves, overflows or the server stops."""

    media_type = "text/event-stream"

    def __init__(
        self,
        hub: EventHub,
        name: str,
        resume: int | None,
        heartbeat: float,
        identity: Identity | None = None,
    ) -> None:
        super().__init__(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        # A stream has no length: drop the `content-length: 0` of the empty body.
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            *((k, v) for k, v in self.raw_headers if k not in (b"content-length", b"content-type")),
        ]
        self.hub, self.name, self.resume, self.heartbeat = hub, name, resume, heartbeat
        self.identity = identity
        self.user = identity.name or "-" if identity is not None else "-"
        self.sent = 0  # body bytes handed to the server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the room, follow it, write events; release everything at the end."""
        async with self.hub.state.manager.hold(self.name) as room:
            stream = await self.hub.follow(room)
            stream.identity = self.identity
            expiry = end_at_expiry(stream)  # revocations: EventHub.enforce_access
            try:
                await self._serve(stream, scope, receive, send)
            finally:
                if expiry is not None:
                    expiry.cancel()
                self.hub.unfollow(stream)

    async def _serve(self, stream: EventStream, scope: Scope, receive: Receive, send: Send) -> None:
        writer = asyncio.ensure_future(self._write(stream, send))
        listener = asyncio.ensure_future(_wait_disconnect(receive))
        ended = asyncio.ensure_future(stream.done.wait())
        tasks = {writer, listener, ended}
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else "?"
        started = time.monotonic()
        log.info("events open room=%s peer=%s user=%s", self.name, peer, self.user)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if stream.ended not in (None, "slow_consumer") and not writer.done():
                # Let the writer send what is queued and the `close` event; a slow
                # consumer gets nothing more: its socket is dropped.
                await asyncio.wait({writer, listener}, timeout=1.0)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if writer.done() and not writer.cancelled() and writer.exception() is not None:
                log.debug("event stream writer of %s stopped: %r", peer, writer.exception())
            log.info(
                "events close room=%s peer=%s user=%s reason=%s duration=%.1fs out=%dB",
                self.name,
                peer,
                self.user,
                stream.ended or "client_closed",
                time.monotonic() - started,
                self.sent,
            )

    async def _write(self, stream: EventStream, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        first = [f"retry: {RETRY_MS}\n\n".encode(), *await self._opening(stream)]
        await self._send(send, b"".join(first))
        while stream.ended is None:
            try:
                async with asyncio.timeout(self.heartbeat):
                    await stream.wakeup.wait()
            except TimeoutError:
                stream.feed.poke()
                beat = {"seq": stream.feed.seq, "time": time.time()}
                stream.push(sse("heartbeat", beat))
            stream.wakeup.clear()
            chunks = stream.take()
            if chunks:
                await self._send(send, b"".join(chunks))
        tail = b"" if stream.ended == "slow_consumer" else sse("close", {"reason": stream.ended})
        await self._send(send, tail, more=False)

    async def _send(self, send: Send, body: bytes, more: bool = True) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": more})
        self.sent += len(body)

    async def _opening(self, stream: EventStream) -> list[bytes]:
        """The text at the stream's start (or the patches since `Last-Event-ID`), then
        who is present."""
        seq, presence = stream.start_seq, sse("presence", stream.presence)
        snapshot = sse("text", {"kind": "snapshot", "seq": seq, "text": stream.start_text}, seq)
        resume = self.resume
        if resume is None or resume > seq:
            return [snapshot, presence]
        if resume == seq:
            return [presence]
        if seq - resume > MAX_REPLAY:
            return [snapshot, presence]  # far behind: the text itself is shorter
        store = self.hub.state.store
        rows = await store.updates_range(self.name, resume, seq)
        if [r.seq for r in rows] != list(range(resume + 1, seq + 1)):
            return [snapshot, presence]  # history compacted: start over from the text
        base = await version_parts(store, self.name, resume)
        try:
            found = await self.hub.state.offload.run(
                replay_patches, base, [(r.seq, r.update, r.author) for r in rows]
            )
        except OffloadError:
            return [snapshot, presence]  # could not replay in time: the text itself
        patches = [sse("text", {"kind": "patch", **patch}, patch["seq"]) for patch in found]
        return [*patches, presence]


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def room_events(request: Request) -> Response:
    """`GET /api/rooms/{room}/events`: Server-Sent Events of one room."""
    name, identity = room_and_identity(request)
    hub: EventHub = request.app.state.events
    if hub.state.shutting_down:  # a stream opened now would hold the shutdown up
        raise HTTPError(503, "shutting_down", "the server is restarting; retry elsewhere")
    try:
        heartbeat = float(request.query_params.get("heartbeat", HEARTBEAT_S))
    except ValueError:
        heartbeat = math.nan
    if not math.isfinite(heartbeat):
        raise HTTPError(400, "bad_heartbeat", "heartbeat must be a number of seconds")
    heartbeat = min(60.0, max(1.0, heartbeat))
    return EventStreamResponse(hub, name, last_event_id(request), heartbeat, identity)


async def post_ephemeral(request: Request) -> Response:
    """`POST /api/rooms/{room}/ephemeral[?to=CLIENT_ID]`: relay a JSON message to the
    room's subscribed connections and followers (or to the connection owning one
    awareness client id); never stored."""
    name, _identity = room_and_identity(request)
    state: AppState = request.app.state.samepage
    body = await read_body(request, state.settings.sync.max_awareness_bytes, "ephemeral message")
    try:
        parse_json(body)
        data = body.decode()
    except ValueError:
        raise HTTPError(400, "invalid_json", "the body must be a JSON document") from None
    room = state.manager.get(name)  # nobody listens in a room that is not loaded
    target = request.query_params.get("to")
    if target is not None:
        client_id = parse_count(target)
        if client_id is None:
            raise HTTPError(400, "bad_target", "to must be an awareness client id")
        owner = _owner_of(room, client_id) if room is not None else None
        if owner is None:
            raise HTTPError(404, "no_such_client", f"no connection owns client id {target}")
        if not owner.subscriptions & SubscribeFlag.EPHEMERAL:
            return JSONResponse({"delivered": 0})
        owner.send(encode_ephemeral(data))
        return JSONResponse({"delivered": 1})
    if room is None:
        return JSONResponse({"delivered": 0})
    receivers = sum(1 for c in room.subscribers if c.subscriptions & SubscribeFlag.EPHEMERAL)
    feed = request.app.state.events.feeds.get(name)
    followers = len(feed.streams) if feed is not None and feed.room is room else 0
    room.relay_ephemeral(data)
    return JSONResponse({"delivered": receivers + followers})


def _owner_of(room: Room, client_id: int) -> Connection | None:
    for conn in room.subscribers:
        if client_id in room.presence.owned_by(conn):
            return conn
    return None


routes = [
    Route("/api/rooms/{room}/events", room_events, methods=["GET"]),
    Route("/api/rooms/{room}/ephemeral", post_ephemeral, methods=["POST"]),
]
