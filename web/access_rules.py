"""What stored access changes mean for one identity in one room: pure functions over the
revocations and grants in force (kept by `web.access.AccessControl`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from storage.access import GrantRule, Revocation, merge_revocation
from sync.types import Identity


class AccessRules:
    """Revocations by (kind, value) and grants by (user, room), held in memory so that
    every check on connect, on each HTTP call and on each sweep is a dict lookup."""

    def __init__(self) -> None:
        self.revocations: dict[tuple[str, str], Revocation] = {}
        self.grants: dict[tuple[str, str], GrantRule] = {}

    def replace_all(self, revocations: Iterable[Revocation], grants: Iterable[GrantRule]) -> None:
        """Take what the store holds (a reload)."""
        self.revocations = {}
        for revocation in revocations:
            self.add(revocation)
        self.grants = {(g.user, g.room): g for g in grants}

    def add(self, revocation: Revocation) -> None:
        """One more revocation (or a wider one)."""
        key = (revocation.kind, revocation.value)
        self.revocations[key] = merge_revocation(self.revocations.get(key), revocation)

    def set_grant(self, grant: GrantRule) -> None:
        """A user's grant for a room changed (the later change wins)."""
        key = (grant.user, grant.room)
        old = self.grants.get(key)
        if old is None or old.changed_at <= grant.changed_at:
            self.grants[key] = grant

    def prune(self, now: float) -> None:
        """Forget revocations whose tokens have all expired."""
        self.revocations = {k: r for k, r in self.revocations.items() if r.until > now}

    def refusal(self, identity: Identity, room: str | None) -> str | None:
        """Why this identity's token is revoked (for `room`, when given), or None."""
        credential = identity.credential
        if credential is None or not self.revocations:
            return None
        if credential.token_id and ("jti", credential.token_id) in self.revocations:
            return "token revoked"
        by_user = self.revocations.get(("user", identity.user_id or ""))
        if by_user is not None and credential.issued_at <= by_user.revoked_at:
            return "token revoked (every token of this user)"
        by_room = self.revocations.get(("room", room)) if room is not None else None
        if by_room is not None and credential.issued_at <= by_room.revoked_at:
            return "token revoked for this room"
        return None

    def effective(self, identity: Identity, room: str) -> Identity:
        """The identity with the write permission a stored grant leaves it: never more
        than the token's own, lowered to read by a `read` grant."""
        credential = identity.credential
        if credential is None:
            return identity
        grant = self.grants.get((identity.user_id or "", room))
        writable = credential.writable and (grant is None or grant.perm == "write")
        return identity if writable == identity.can_write else replace(identity, can_write=writable)
