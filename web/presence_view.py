"""Presence as event-stream followers see it: who joined, left, is typing, or changed
their name or colour (cursor moves are not events)."""

from __future__ import annotations

import json
from typing import Any

from sync.awareness import AwarenessEntry


def _peer(client_id: int, state: Any) -> dict[str, Any]:
    user = state.get("user") if isinstance(state, dict) else None
    user = user if isinstance(user, dict) else {}
    return {
        "client_id": client_id,
        "name": str(user.get("name") or ""),
        "color": str(user.get("color") or ""),
        "typing": bool(state.get("typing")) if isinstance(state, dict) else False,
    }


class PresenceView:
    """Who is in the room, reduced to what followers care about: joined, left, typing."""

    def __init__(self, states: dict[int, Any]) -> None:
        self.peers = {cid: _peer(cid, s) for cid, s in states.items()}

    def apply(self, entries: list[AwarenessEntry]) -> list[dict[str, Any]]:
        """Accepted awareness entries → presence events (cursor moves produce none)."""
        events = []
        for entry in entries:
            old = self.peers.get(entry.client_id)
            if entry.removed:
                if old is not None:
                    del self.peers[entry.client_id]
                    events.append({"action": "left", **old, "typing": False})
                continue
            try:
                new = _peer(entry.client_id, json.loads(entry.state))
            except ValueError:
                continue
            self.peers[entry.client_id] = new
            if old is None:
                events.append({"action": "joined", **new})
            elif old["typing"] != new["typing"]:
                events.append({"action": "typing", **new})
            elif (old["name"], old["color"]) != (new["name"], new["color"]):
                events.append({"action": "changed", **new})
        return events

    def snapshot(self) -> dict[str, Any]:
        """Everyone present now."""
        return {"action": "snapshot", "peers": list(self.peers.values())}
