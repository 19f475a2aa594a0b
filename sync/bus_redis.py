"""`RedisBus`: nodes of a cluster share rooms through Redis pub/sub.

One channel per room (`{prefix}:room:{name}`) carries committed updates (with their seq
in the shared log), awareness, and presence queries/snapshots; `{prefix}:nodes` carries
goodbyes and node-wide notices (`BusNotice`: access changes). Pub/sub is at-most-once:
whatever a node misses while Redis (or its link to it) is down, it catches up from the
database, which is the source of truth — the bus reports every (re)subscription as
`Resubscribed` so the cluster link knows when.

Liveness: each node refreshes `{prefix}:node:{node_id}` (TTL `ttl_s`) every
`heartbeat_s`; a peer whose key expired is reported as `NodeGone`. The node id on the
bus is `--node-id` plus a random suffix, so a restarted node is a new peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from sync.bus import (
    BusHandler,
    BusMessage,
    BusNotice,
    NodeGone,
    Resubscribed,
)
from sync.bus_wire import decode_bus_message, encode_bus_message, with_origin
from sync.errors import ProtocolError

log = logging.getLogger("samepage.bus")

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class RedisBus:
    """The Bus over Redis pub/sub, with heartbeats for node liveness."""

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        prefix: str = "samepage",
        heartbeat_s: float = 1.0,
        ttl_s: float = 3.0,
        queue_limit: int = 10_000,
        timeout_s: float = 3.0,
    ) -> None:
        self.name = node_id
        self.node_id = f"{node_id}.{secrets.token_hex(3)}"
        self.url = url
        self.prefix = prefix
        self.heartbeat_s = heartbeat_s
        self.ttl_s = ttl_s
        self.queue_limit = queue_limit
        self.rooms: set[str] = set()  # wanted subscriptions
        self.connected = False
        self.dropped = 0  # messages not published (queue overflow or Redis errors)
        self._redis: Redis = Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._handler: BusHandler | None = None
        self._pubsub: PubSub | None = None
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._sub_lock = asyncio.Lock()
        self._subscribed: set[str] = set()  # rooms subscribed on the current connection
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # the publish queue is empty
        self._idle.set()
        self._up = asyncio.Event()  # first subscription done
        self._peers: dict[str, float] = {}
        self._connected_since = 0.0
        self._resubscribed_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # -- channels ------------------------------------------------------------------

    def _room_channel(self, room: str) -> str:
        return f"{self.prefix}:room:{room}"

    @property
    def _nodes_channel(self) -> str:
        return f"{self.prefix}:nodes"

    def _node_key(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    # -- lifecycle -----------------------------------------------------------------

    async def start(self, handler: BusHandler) -> None:
        """Connect (or keep trying in the background when Redis is down)."""
        self._handler = handler
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_loop(), name="bus-reader"),
            loop.create_task(self._write_loop(), name="bus-writer"),
            loop.create_task(self._heartbeat_loop(), name="bus-heartbeat"),
        ]
        # Wait briefly for the first subscription so a fresh node starts connected.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), 2.0)

    async def aclose(self) -> None:
        """Publish what is queued (briefly), say goodbye, disconnect (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 1.0)
        with contextlib.suppress(*_ERRORS):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(self._node_key(self.node_id))
                pipe.publish(self._nodes_channel, encode_bus_message(NodeGone(self.node_id)))
                await pipe.execute()
        # Closing the subscriber connection first ends a pending read; redis-py's reads
        # do not always honour a cancellation, so never wait on the tasks unbounded.
        await self._drop_pubsub()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        self._tasks = []
        await self._drop_pubsub()
        with contextlib.suppress(*_ERRORS):
            await self._redis.aclose()

    # -- subscriptions -------------------------------------------------------------

    async def join(self, room: str) -> None:
        """Subscribe to `room` and wait for Redis to confirm (bounded; never raises)."""
        self.rooms.add(room)
        async with self._sub_lock:
            pubsub = self._pubsub
            channel = self._room_channel(room)
            if room not in self.rooms or pubsub is None or not self.connected:
                return  # the reader subscribes every wanted room when it reconnects
            if room in self._subscribed:
                return
            self._subscribed.add(room)
            waiter = asyncio.get_running_loop().create_future()
            self._confirmed[channel] = waiter
            try:
                await pubsub.subscribe(channel)
                await asyncio.wait_for(asyncio.shield(waiter), 2.0)
            except _ERRORS as exc:  # the reader will reconnect and resubscribe
                log.warning("bus subscribe to %s failed: %r", room, exc)
            finally:
                self._confirmed.pop(channel, None)

    async def leave(self, room: str) -> None:
        """Unsubscribe from `room` (unless it was joined again meanwhile)."""
        self.rooms.discard(room)
        async with self._sub_lock:
            pubsub = self._pubsub
            if room in self.rooms or pubsub is None or not self.connected:
                return
            self._subscribed.discard(room)
            with contextlib.suppress(*_ERRORS):
                await pubsub.unsubscribe(self._room_channel(room))

    # -- publishing ----------------------------------------------------------------

    def publish(self, message: BusMessage) -> None:
        """Queue for the writer task; when the queue is full the oldest is dropped."""
        if self._closed or isinstance(message, Resubscribed):
            return
        origin_tagged = with_origin(message, self.node_id)
        if isinstance(origin_tagged, (NodeGone, BusNotice, Resubscribed)):
            channel = self._nodes_channel
        else:
            channel = self._room_channel(origin_tagged.room)
        self._queue.append((channel, encode_bus_message(origin_tagged)))
        if len(self._queue) > self.queue_limit:
            self._queue.popleft()
            self.dropped += 1
        self._idle.clear()
        self._wakeup.set()

    async def _write_loop(self) -> None:
        failed_at: float | None = None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), 500))]
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, data in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
                except Exception as exc:
                    # Lost: peers catch updates up from the database; presence is
                    # re-exchanged once we are back (see below).
                    self.dropped += len(batch)
                    if failed_at is None:
                        failed_at = time.monotonic()
                        log.warning("bus publish failed (%r); dropping until Redis is back", exc)
                    await asyncio.sleep(0.2)
                    continue
                if failed_at is not None:
                    if self._resubscribed_at < failed_at:
                        self._emit(Resubscribed(self.node_id))
                    failed_at = None
            self._idle.set()

    # -- receiving -----------------------------------------------------------------

    async def _read_loop(self) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                await self._subscribe_all()
                backoff = 0.05
                await self._read_messages()
            except Exception as exc:  # redis-py also raises non-Redis errors on races
                if self._closed:
                    return
                if self.connected:
                    log.warning("bus connection lost: %r; reconnecting", exc)
                elif self._connected_since == 0.0 and backoff == 0.05:
                    log.warning("cannot reach Redis at %s (%r); retrying", _redacted(self.url), exc)
                self.connected = False
            await self._drop_pubsub()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _subscribe_all(self) -> None:
        async with self._sub_lock:
            pubsub = self._redis.pubsub()
            self._pubsub = pubsub
            self._subscribed = set(self.rooms)
            channels = [self._nodes_channel, *(self._room_channel(r) for r in self.rooms)]
            await pubsub.subscribe(*channels)
            pending = set(channels)
            deadline = time.monotonic() + 5
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError("no subscribe confirmation")
                reply = await pubsub.get_message(timeout=1.0)
                if reply is not None and reply["type"] == "subscribe":
                    pending.discard(_text(reply["channel"]))
                elif reply is not None:
                    self._dispatch(reply)
            # Rooms joined while we were disconnected (or before a reconnection) may
            # have missed messages; the first subscription of an idle node missed nothing.
            missed = self._connected_since != 0.0 or bool(self.rooms)
            self.connected = True
            self._connected_since = self._resubscribed_at = time.monotonic()
            self._up.set()
        with contextlib.suppress(*_ERRORS):
            await self._beat()
        if missed:
            log.info("bus (re)connected; %d rooms subscribed", len(self.rooms))
            self._emit(Resubscribed(self.node_id))

    async def _read_messages(self) -> None:
        while True:
            pubsub = self._pubsub
            if pubsub is None:
                return
            reply = await pubsub.get_message(timeout=1.0)
            if reply is None:
                continue
            if reply["type"] == "subscribe":
                waiter = self._confirmed.get(_text(reply["channel"]))
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            else:
                self._dispatch(reply)

    def _dispatch(self, reply: dict[str, Any]) -> None:
        if reply["type"] != "message":
            return
        try:
            message = decode_bus_message(bytes(reply["data"]))
        except ProtocolError as exc:
            log.warning("ignoring malformed bus message: %s", exc)
            return
        if message.origin == self.node_id:
            return  # our own echo
        if isinstance(message, NodeGone):
            self._peers.pop(message.origin, None)
        else:
            self._peers[message.origin] = time.monotonic()
        self._emit(message)

    def _emit(self, message: BusMessage) -> None:
        if self._handler is None or self._closed:
            return
        try:
            self._handler(message)
        except Exception:  # one bad message must not stop the bus
            log.exception("bus handler failed on %s", type(message).__name__)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- liveness ------------------------------------------------------------------

    async def _beat(self) -> None:
        await self._redis.set(self._node_key(self.node_id), b"1", px=int(self.ttl_s * 1000))

    async def _heartbeat_loop(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._beat()
                await self._check_peers()
                failures = 0
            except Exception as exc:
                failures += 1
                log.debug("heartbeat failed: %r", exc)
                if failures >= 2 and self.connected:
                    # Redis stopped answering but the subscriber socket looks open (a
                    # partition, a frozen server): a silent subscription may be missing
                    # messages, so reconnect — and catch up once it is back.
                    log.warning("Redis is not answering (%r); reconnecting the bus", exc)
                    self.connected = False
                    await self._drop_pubsub()

    async def _check_peers(self) -> None:
        # Right after a (re)connection peers may not have re-announced themselves yet
        # (a restarted Redis has no keys): give them one TTL before declaring them gone.
        if not self.connected or time.monotonic() - self._connected_since < self.ttl_s:
            return
        peers = list(self._peers)
        if not peers:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for peer in peers:
                pipe.exists(self._node_key(peer))
            alive = await pipe.execute()
        for peer, exists in zip(peers, alive, strict=True):
            if not exists and peer in self._peers:
                del self._peers[peer]
                log.info("bus peer %s stopped heart-beating", peer)
                self._emit(NodeGone(peer))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _redacted(url: str) -> str:
    """The URL without its password (for logs)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
