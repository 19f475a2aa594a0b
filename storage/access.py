"""Stored access changes: token revocations and per-room grants (docs/security.md).
A small protocol with an in-memory implementation (`--db memory://`, tests) and the SQL
one (`storage.sql.access`); the rules they feed live in `web.access_rules`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

RevocationKind = Literal["jti", "user", "room"]
REVOCATION_KINDS: tuple[RevocationKind, ...] = ("jti", "user", "room")
Perm = Literal["read", "write"]


@dataclass(frozen=True, slots=True)
class Revocation:
    """Tokens refused from now on: the one with `jti` = value, or every token of a user
    (`sub`) or for a room issued at or before `revoked_at`. Kept until `until`, when
    every token it can refuse has expired anyway (seconds since the epoch)."""

    kind: RevocationKind
    value: str
    revoked_at: float
    until: float
    by: str = ""


@dataclass(frozen=True, slots=True)
class GrantRule:
    """The most a user (`sub`) may do in a room, whatever their token says: `read`
    lowers a write token to read-only; `write` lifts such a limit again."""

    user: str
    room: str
    perm: Perm
    changed_at: float
    by: str = ""


class AccessStore(Protocol):
    """Where revocations and grants are kept (shared by every node of a cluster)."""

    async def add_revocation(self, revocation: Revocation) -> None:
        """Store (or widen: a later time, a later `until`) a revocation."""

    async def set_grant(self, grant: GrantRule) -> None:
        """Store a user's grant for a room, replacing the one before."""

    async def load(self, now: float) -> tuple[list[Revocation], list[GrantRule]]:
        """Every revocation still in force at `now` (older ones are deleted), and every
        grant."""


def merge_revocation(old: Revocation | None, new: Revocation) -> Revocation:
    """One revocation per (kind, value): the later time and the later `until` win."""
    if old is None:
        return new
    return Revocation(
        new.kind,
        new.value,
        max(old.revoked_at, new.revoked_at),
        max(old.until, new.until),
        new.by or old.by,
    )


class MemoryAccessStore:
    """The AccessStore of one process (lost on restart, like `--db memory://`)."""

    def __init__(self) -> None:
        self.revocations: dict[tuple[str, str], Revocation] = {}
        self.grants: dict[tuple[str, str], GrantRule] = {}

    async def add_revocation(self, revocation: Revocation) -> None:
        """Store or widen."""
        key = (revocation.kind, revocation.value)
        self.revocations[key] = merge_revocation(self.revocations.get(key), revocation)

    async def set_grant(self, grant: GrantRule) -> None:
        """Store, replacing."""
        self.grants[(grant.user, grant.room)] = grant

    async def load(self, now: float) -> tuple[list[Revocation], list[GrantRule]]:
        """What is in force; expired revocations are dropped."""
        self.revocations = {k: r for k, r in self.revocations.items() if r.until > now}
        return list(self.revocations.values()), list(self.grants.values())
