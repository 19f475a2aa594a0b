"""A tab relays its sibling tabs' presence (y-websocket shares awareness over a
BroadcastChannel), sometimes before the sibling's own socket announces it: the state
still belongs to the sibling — it moves there when the sibling announces it, leaves with
the sibling's socket, and a relaying tab is never told that the sibling was removed."""

from __future__ import annotations

import json

from sync.awareness import AwarenessEntry, Presence

ALICE_1, ALICE_2 = 111, 222


def state(name: str) -> str:
    return json.dumps({"user": {"name": name}})


class Socket:
    """An owner as the room sees a connection: its own client id, once known."""

    def __init__(self, client_id: int | None) -> None:
        self.client_id = client_id


def test_an_id_moves_to_the_socket_it_belongs_to() -> None:
    presence = Presence()
    tab1, tab2 = Socket(ALICE_1), Socket(ALICE_2)
    assert presence.apply(tab1, [AwarenessEntry(ALICE_1, 1, state("Alice"))])
    # tab 1 relays tab 2's first state before tab 2's socket says anything
    assert presence.apply(tab1, [AwarenessEntry(ALICE_2, 1, state("Alice"))])
    assert presence.owner_of(ALICE_2) is tab1
    # tab 2 announces itself: its own id, a newer clock, taken from the relaying tab
    assert presence.apply(tab2, [AwarenessEntry(ALICE_2, 2, state("Alice"))])
    assert presence.owner_of(ALICE_2) is tab2
    # another socket cannot take it, nor can tab 1 relay an old clock over it
    assert not presence.apply(tab1, [AwarenessEntry(ALICE_2, 3, state("x"))])
    assert not presence.apply(Socket(333), [AwarenessEntry(ALICE_2, 9, state("x"))])
    # nor a socket that says the id is its own: the holder's own id is never taken over
    assert not presence.apply(Socket(ALICE_2), [AwarenessEntry(ALICE_2, 9, state("x"))])
    # tab 2 closing takes its state with it; tab 1's stays
    assert [e.client_id for e in presence.remove_owner(tab2)] == [ALICE_2]
    assert presence.owner_of(ALICE_1) is tab1 and presence.owner_of(ALICE_2) is None


def test_without_a_known_own_id_ownership_stays_first_come() -> None:
    presence = Presence()
    first, second = object(), object()
    assert presence.apply(first, [AwarenessEntry(5, 1, state("A"))])
    assert not presence.apply(second, [AwarenessEntry(5, 2, state("B"))])
    assert presence.owner_of(5) is first
