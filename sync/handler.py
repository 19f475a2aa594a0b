"""Inbound frames of one connection: decode strictly, check limits and permissions,
and hand each message to the room. Errors surface as `SyncError` with a close code."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

from sync import protocol
from sync.awareness import AwarenessEntry, decode_awareness
from sync.connection import Connection
from sync.errors import CloseCode, LimitExceeded, PermissionDenied, RoomUnavailable
from sync.protocol import SubscribeFlag
from sync.room import OFF_LOOP_BYTES, Room
from sync.updates import EMPTY_UPDATE, UpdateFacts, update_facts

log = logging.getLogger("samepage.sync")


def author_of(conn: Connection) -> str:
    """Who made an update: the authenticated user, else the awareness name, else anonymous."""
    return conn.identity.name or conn.announced_name or "anonymous"


def announced_name(entries: list[AwarenessEntry]) -> str | None:
    """The `user.name` a client shows in its awareness state, if any."""
    for entry in entries:
        if entry.removed:
            continue
        try:
            state: Any = json.loads(entry.state)
        except ValueError:
            continue
        user = state.get("user") if isinstance(state, dict) else None
        name = user.get("name") if isinstance(user, dict) else None
        if isinstance(name, str) and name.strip():
            return name.strip()[:200]
    return None


async def handle_frame(conn: Connection, frame: bytes) -> None:
    """Process one binary frame from `conn` (which must have joined a room)."""
    wait = handle_frame_nowait(conn, frame)
    if wait is not None:
        await wait


def handle_frame_nowait(conn: Connection, frame: bytes) -> Awaitable[None] | None:
    """Process one binary frame now if nothing has to be waited for; otherwise return
    what the caller must await before reading the next frame (the rate limiter's
    delay, or the store catching up): processing stays ordered without a task per
    frame."""
    room = conn.room
    if room is None or conn.closed:
        return None
    conn.bytes_in += len(frame)
    if conn.traffic is not None:
        conn.traffic.received(frame)
    wait = conn.bucket.try_take()
    if wait:
        return _process_after(conn, frame, conn.bucket.take_after(wait))
    return _process(conn, frame)


async def _process_after(conn: Connection, frame: bytes, wait: Awaitable[None]) -> None:
    """Process `frame` once `wait` is over (the rate limiter's delay, or the room's
    big update being applied off the loop), if `conn` is still in its room."""
    room = conn.room
    await wait
    if room is not None and conn.room is room and not conn.closed:
        later = _process(conn, frame)
        if later is not None:
            await later


def _process(conn: Connection, frame: bytes) -> Awaitable[None] | None:
    room = conn.room
    assert room is not None
    if room.busy:  # a big update is being applied off the loop: after it, in order
        return _process_after(conn, frame, room.idle())
    settings = conn.settings
    if len(frame) > settings.max_update_bytes:
        raise LimitExceeded(f"frame of {len(frame)} bytes", CloseCode.TOO_BIG)
    update = protocol.update_payload(frame)
    if update is not None:  # the hot path: one update, no message object
        return _handle_update(conn, update)
    message = protocol.decode_frame(frame)
    if isinstance(message, (protocol.SyncUpdate, protocol.SyncStep2)):
        return _handle_update(conn, message.update)
    elif isinstance(message, protocol.SyncStep1):
        room.life.check_state_vector(message.state_vector)  # an earlier epoch's document?
        room.answer_sync_step1(conn, message.state_vector)
    elif isinstance(message, protocol.AwarenessMessage):
        if len(message.payload) > settings.max_awareness_bytes:
            raise LimitExceeded(
                f"awareness of {len(message.payload)} bytes", CloseCode.AWARENESS_TOO_BIG
            )
        entries = decode_awareness(message.payload)
        if conn.client_id is None and len(entries) == 1 and not entries[0].removed:
            conn.client_id = entries[0].client_id
        fresh = {e.client_id for e in entries if not e.removed and e.client_id not in room.presence}
        accepted = room.apply_awareness(conn, entries)
        name = announced_name(accepted) if accepted else None
        if name:
            conn.announced_name = name
        room.announce_fresh(conn, [e for e in accepted if e.client_id in fresh])
    elif isinstance(message, protocol.QueryAwareness):
        awareness = room.awareness_frame()
        if awareness is not None:
            conn.send(awareness)
    elif isinstance(message, protocol.Subscribe):
        conn.subscriptions = message.flags
        if message.flags & SubscribeFlag.SAVED:
            room.send_saved_after_commit(conn)
        if message.flags & SubscribeFlag.ACCESS:
            conn.send(conn.access_frame())
    elif isinstance(message, protocol.Ephemeral):
        room.relay_ephemeral(message.data, exclude=conn)
    elif isinstance(message, protocol.Unknown):
        log.info("ignoring unknown message type %d from %s", message.message_type, conn.peer)
    else:  # Saved and Access are server -> client only
        log.info("ignoring %s from client %s", type(message).__name__, conn.peer)
    return None


def _handle_update(conn: Connection, update: bytes) -> Awaitable[None] | None:
    room = conn.room
    if room is None:
        return None
    if not conn.identity.can_write:
        if update == EMPTY_UPDATE:
            return None  # the empty sync step 2 every client sends on connect
        if len(update) > OFF_LOOP_BYTES:  # decoding it takes a while: in a thread
            return _read_only_off_loop(room, update)
        _refuse_changes(room, update_facts(update))
        return None
    if len(update) > OFF_LOOP_BYTES:
        return _applied_off_loop(conn, room, room.apply_update_soon(update, author_of(conn)))
    future = room.apply_update(update, author_of(conn), conn)
    if future is not None and room.inflight > conn.settings.max_inflight_per_room:
        # Backpressure: the store is behind; stop reading this client until it catches up.
        return _await_commit(future)
    return None


def _refuse_changes(room: Room, facts: UpdateFacts) -> None:
    """A read-only connection may only send what the document already has."""
    room.life.check_clients(facts.state)  # an earlier epoch's content: 4410
    if room.would_change(facts):
        raise PermissionDenied("read-only connection sent a document change")


async def _read_only_off_loop(room: Room, update: bytes) -> None:
    facts = await asyncio.to_thread(update_facts, update)
    await room.idle()
    _refuse_changes(room, facts)


async def _applied_off_loop(
    conn: Connection, room: Room, applied: asyncio.Future[asyncio.Future[Any] | None]
) -> None:
    future = await applied
    if future is not None and room.inflight > conn.settings.max_inflight_per_room:
        await _await_commit(future)


async def _await_commit(future: asyncio.Future[Any]) -> None:
    try:
        await future
    except Exception as exc:
        raise RoomUnavailable(f"store failed: {exc}") from exc
