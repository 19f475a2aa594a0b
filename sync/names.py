"""Room name validation, shared by every entry point before anything is created."""

from __future__ import annotations

import re

from sync.errors import InvalidRoomName

ROOM_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def is_valid_room_name(name: str) -> bool:
    """True when `name` is an acceptable room name."""
    return ROOM_NAME_RE.fullmatch(name) is not None


def check_room_name(name: str) -> str:
    """Return `name` or raise `InvalidRoomName`."""
    if not is_valid_room_name(name):
        raise InvalidRoomName(f"invalid room name {name[:40]!r}")
    return name
