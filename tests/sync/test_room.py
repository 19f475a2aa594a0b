"""Room invariants, each with a test that fails without it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pycrdt import Doc, Text

from sync import protocol
from sync.awareness import AwarenessEntry, encode_awareness_entries
from sync.connection import Connection
from sync.errors import CloseCode, InvalidUpdate
from sync.handler import handle_frame
from sync.manager import RoomManager
from sync.types import Identity, SyncSettings
from tests.helpers.clients import eventually
from tests.helpers.fakes import FakeTransport, GatedStore


def client_update(text: str) -> bytes:
    """A Yjs update inserting `text` from a fresh client."""
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, text)
    return doc.get_update()


async def connect(
    manager: RoomManager, name: str, settings: SyncSettings | None = None, blocked: bool = False
) -> tuple[Connection, FakeTransport]:
    transport = FakeTransport(blocked=blocked)
    conn = Connection(transport, Identity(), settings or manager.settings, peer=name)
    room = await manager.acquire(name)
    room.join(conn)
    conn.start()
    return conn, transport


def updates_received(transport: FakeTransport) -> list[bytes]:
    return [m.update for m in transport.of_type(protocol.SyncUpdate)]


async def test_persist_before_broadcast_including_the_senders_echo() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    sender, sender_t = await connect(manager, "r")
    _peer, peer_t = await connect(manager, "r")
    store.commit_gate.clear()
    await handle_frame(sender, protocol.encode_update(client_update("hello")))
    for _ in range(20):
        await asyncio.sleep(0)
    assert store.committed == []
    assert updates_received(peer_t) == [] and updates_received(sender_t) == []
    store.commit_gate.set()
    await eventually(lambda: len(updates_received(peer_t)) == 1, what="broadcast after commit")
    assert len(store.committed) == 1
    await eventually(lambda: len(updates_received(sender_t)) == 1, what="echo to sender")
    await manager.aclose()


async def test_joiner_sync_step2_waits_for_inflight_commits() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    sender, _ = await connect(manager, "r")
    store.commit_gate.clear()
    await handle_frame(sender, protocol.encode_update(client_update("uncommitted")))
    joiner, joiner_t = await connect(manager, "r")
    await handle_frame(joiner, protocol.encode_sync_step1(b"\x00"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert joiner_t.of_type(protocol.SyncStep2) == []
    store.commit_gate.set()
    await eventually(lambda: len(joiner_t.of_type(protocol.SyncStep2)) == 1)
    doc: Doc[Any] = Doc()
    doc.apply_update(joiner_t.of_type(protocol.SyncStep2)[0].update)
    assert str(doc.get("content", type=Text)) == "uncommitted"
    await manager.aclose()


async def test_redundant_update_is_not_persisted_twice() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    conn, _ = await connect(manager, "r")
    update = client_update("once")
    await handle_frame(conn, protocol.encode_update(update))
    await handle_frame(conn, protocol.encode_sync_step2(update))
    await manager.get("r").flush()  # type: ignore[union-attr]
    assert len(store.committed) == 1


async def test_broken_update_closes_only_the_sender_and_keeps_the_room() -> None:
    manager = RoomManager(GatedStore())
    good, good_t = await connect(manager, "r")
    bad, _ = await connect(manager, "r")
    with pytest.raises(InvalidUpdate):
        await handle_frame(bad, protocol.encode_update(b"\x05\x01\x02"))
    await handle_frame(good, protocol.encode_update(client_update("fine")))
    await eventually(lambda: len(updates_received(good_t)) == 1)
    room = manager.get("r")
    assert room is not None and not room.failed
    assert str(room.doc.get("content", type=Text)) == "fine"
    await manager.aclose()


def awareness_frame(client_id: int, clock: int, state: str) -> bytes:
    return protocol.encode_awareness(
        encode_awareness_entries([AwarenessEntry(client_id, clock, state)])
    )


def awareness_states(transport: FakeTransport) -> dict[int, str]:
    from sync.awareness import decode_awareness

    states: dict[int, str] = {}
    for message in transport.of_type(protocol.AwarenessMessage):
        for entry in decode_awareness(message.payload):
            states[entry.client_id] = entry.state
    return {k: v for k, v in states.items() if v != "null"}


async def test_presence_joiner_sees_everyone_and_leaver_is_removed() -> None:
    manager = RoomManager(GatedStore())
    alice, _ = await connect(manager, "r")
    _bob, bob_t = await connect(manager, "r")
    await handle_frame(alice, awareness_frame(11, 1, '{"user": {"name": "Alice"}}'))
    await eventually(lambda: 11 in awareness_states(bob_t))
    _carol, carol_t = await connect(manager, "r")
    # on join, without a query-awareness
    await eventually(lambda: 11 in awareness_states(carol_t), timeout=1.0)
    await alice.aclose()
    await eventually(lambda: 11 not in awareness_states(bob_t), timeout=1.0)
    await eventually(lambda: 11 not in awareness_states(carol_t), timeout=1.0)
    await manager.aclose()


async def test_relayed_states_do_not_transfer_ownership() -> None:
    manager = RoomManager(GatedStore())
    alice, _ = await connect(manager, "r")
    bob, _ = await connect(manager, "r")
    _carol, carol_t = await connect(manager, "r")
    await handle_frame(alice, awareness_frame(11, 1, '{"user": {"name": "Alice"}}'))
    await handle_frame(bob, awareness_frame(22, 1, '{"user": {"name": "Bob"}}'))
    # Bob's client relays Alice's state (as y-websocket clients do) and then tries to
    # overwrite it: neither makes Bob the owner of Alice's id.
    await handle_frame(bob, awareness_frame(11, 5, '{"user": {"name": "Mallory"}}'))
    await bob.aclose()
    await eventually(lambda: 22 not in awareness_states(carol_t))
    assert "Alice" in awareness_states(carol_t)[11]
    await manager.aclose()


def removals_of(transport: FakeTransport) -> list[AwarenessEntry]:
    from sync.awareness import decode_awareness

    return [
        entry
        for message in transport.of_type(protocol.AwarenessMessage)
        for entry in decode_awareness(message.payload)
        if entry.removed
    ]


async def test_a_returning_client_makes_peers_it_saw_unchanged_re_announce() -> None:
    # y-websocket keeps a peer's clock when it drops the peer on disconnect, so after a
    # reconnect it ignores the unchanged state the server resends: the server asks the
    # peer (and only such peers) to re-announce past that clock, and the returner too.
    manager = RoomManager(GatedStore())
    alice, alice_t = await connect(manager, "r")
    bob, _ = await connect(manager, "r")
    dave, dave_t = await connect(manager, "r")
    await handle_frame(alice, awareness_frame(11, 3, '{"user": {"name": "Alice"}}'))
    await handle_frame(bob, awareness_frame(22, 1, '{"user": {"name": "Bob"}}'))
    await handle_frame(dave, awareness_frame(44, 7, '{"user": {"name": "Dave"}}'))
    await bob.aclose()
    await asyncio.sleep(0.01)
    carol, carol_t = await connect(manager, "r")
    await handle_frame(carol, awareness_frame(33, 1, '{"user": {"name": "Carol"}}'))
    await asyncio.sleep(0.01)
    await handle_frame(alice, awareness_frame(11, 4, '{"user": {"name": "Alice", "x": 1}}'))
    alice_before = len(removals_of(alice_t))
    back, back_t = await connect(manager, "r")
    await handle_frame(back, awareness_frame(22, 1, '{"user": {"name": "Bob"}}'))
    for _ in range(5):
        await asyncio.sleep(0)
    # Bob is told he was removed one clock later, so he bumps and re-broadcasts
    assert AwarenessEntry(22, 2, "null") in removals_of(back_t)
    # Dave's state is unchanged since Bob left: he is asked to re-announce past clock 7
    assert [e for e in removals_of(dave_t) if e.client_id == 44] == [
        AwarenessEntry(44, 8, "null"),  # his own welcome
        AwarenessEntry(44, 8, "null"),  # Bob's return
    ]
    # Carol joined after Bob left: Bob never saw her state, so she is not asked
    assert [e for e in removals_of(carol_t) if e.client_id == 33] == [AwarenessEntry(33, 2, "null")]
    # Alice changed after Bob left (clock 4 > what Bob saw): no nudge either
    assert len(removals_of(alice_t)) == alice_before
    await manager.aclose()


async def test_a_returning_client_is_remembered_only_as_long_as_clocks_can_be_stale() -> None:
    from sync.awareness import REMEMBER_LEFT_S, Presence

    presence = Presence()
    alice, bob = object(), object()
    presence.apply(alice, [AwarenessEntry(11, 1, "{}")])
    presence.apply(bob, [AwarenessEntry(22, 1, "{}")])
    presence.remove_owner(bob)
    assert presence.stale_for_returning(22) == [(alice, AwarenessEntry(11, 1, "{}"))]
    assert presence.stale_for_returning(22) == []  # once per departure
    assert presence.stale_for_returning(99) == []  # never seen: nothing stale
    presence.apply(bob, [AwarenessEntry(22, 2, "{}")])
    presence.apply(bob, [AwarenessEntry(22, 2, "null")])
    presence._left[22] -= REMEMBER_LEFT_S + 1
    assert presence.stale_for_returning(22) == []  # every peer has renewed since


async def test_server_has_no_phantom_awareness_state() -> None:
    manager = RoomManager(GatedStore())
    conn, transport = await connect(manager, "r")
    await handle_frame(conn, protocol.encode_query_awareness())
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.of_type(protocol.AwarenessMessage) == []
    await manager.aclose()


async def test_slow_consumer_is_closed_and_others_keep_receiving() -> None:
    settings = SyncSettings(outbound_queue_frames=8)
    manager = RoomManager(GatedStore(), settings)
    writer, _ = await connect(manager, "r")
    slow, slow_t = await connect(manager, "r", blocked=True)
    _fast, fast_t = await connect(manager, "r")
    for i in range(30):
        await handle_frame(writer, protocol.encode_update(client_update(f"u{i}")))
        await manager.get("r").flush()  # type: ignore[union-attr]
    await eventually(lambda: slow_t.close_code == CloseCode.SLOW_CONSUMER)
    await eventually(lambda: len(updates_received(fast_t)) == 30)
    assert slow not in manager.get("r").subscribers  # type: ignore[union-attr]
    await manager.aclose()


async def test_author_is_the_announced_awareness_name_else_anonymous() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    named, _ = await connect(manager, "r")
    anon, _ = await connect(manager, "r")
    await handle_frame(named, awareness_frame(5, 1, '{"user": {"name": " Alice "}}'))
    await handle_frame(named, protocol.encode_update(client_update("a")))
    await handle_frame(anon, protocol.encode_update(client_update("b")))
    await manager.get("r").flush()  # type: ignore[union-attr]
    rows = await store.history("r")
    assert sorted(r.author for r in rows) == ["Alice", "anonymous"]
    await manager.aclose()


async def test_subscribe_is_answered_after_pending_commits() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    conn, transport = await connect(manager, "r")
    store.commit_gate.clear()
    await handle_frame(conn, protocol.encode_update(client_update("pending")))
    await handle_frame(conn, protocol.encode_subscribe(protocol.SubscribeFlag.SAVED))
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.of_type(protocol.Saved) == []
    store.commit_gate.set()
    await eventually(lambda: len(transport.of_type(protocol.Saved)) >= 1)
    assert transport.of_type(protocol.Saved)[0].seq == 1
    await manager.aclose()
