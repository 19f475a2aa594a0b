"""`AccessControl`: revocations and grants that take effect on live connections.

A change (`revoke`, `set_grant`) is stored first (`storage.access`), then applied to the
rules this node checks every connect and HTTP call against (`web.access_rules`), then to
the connections it serves (a revoked token's sockets close 4401; a lowered grant makes
the next write 4403 and tells a subscribed page), then published to the other nodes on
the bus (`ClusterLink.publish_notice`), which do the same. The database is the source of
truth: a node reloads it when the bus reconnects and every `refresh_s` in a cluster, so a
missed bus message costs at most that long."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from storage.access import (
    REVOCATION_KINDS,
    AccessStore,
    GrantRule,
    MemoryAccessStore,
    Perm,
    Revocation,
    RevocationKind,
)
from storage.types import Store
from sync.cluster import ClusterLink
from sync.errors import CloseCode
from sync.manager import RoomManager
from sync.types import Identity
from web.access_rules import AccessRules
from web.auth import AuthError

log = logging.getLogger("samepage.access")
TOPIC = "access"


def access_store_for(store: Store) -> AccessStore:
    """The access store beside the update log: the same database, or memory."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return MemoryAccessStore()
    from storage.sql.access import SqlAccessStore

    return SqlAccessStore(engine)


class AccessControl:
    """This node's view of revocations and grants, and their enforcement."""

    def __init__(
        self,
        store: AccessStore,
        manager: RoomManager,
        link: ClusterLink | None,
        *,
        max_token_ttl_s: float,
        refresh_s: float = 2.0,
    ) -> None:
        self.store = store
        self.manager = manager
        self.link = link
        self.max_token_ttl_s = max_token_ttl_s
        self.refresh_s = refresh_s
        self.rules = AccessRules()
        self.closed_connections = 0  # closed because their token was revoked
        self._task: asyncio.Task[None] | None = None
        self._reloads: set[asyncio.Task[None]] = set()
        self._watchers: list[Callable[[Callable[[Identity, str], str | None]], int]] = []

    async def start(self) -> None:
        """Load what is stored; in a cluster, follow the bus and the database."""
        await self.reload()
        if self.link is not None:
            self.link.on_notice(TOPIC, self._on_notice)
            self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def aclose(self) -> None:
        """Stop following (idempotent)."""
        tasks = [t for t in [self._task, *self._reloads] if t is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # -- checks ----------------------------------------------------------------------

    def admit(self, identity: Identity, room: str | None) -> Identity:
        """The identity a token gives in `room` now: AuthError (4401 / HTTP 401) when the
        token is revoked; otherwise with the write permission its grant leaves."""
        reason = self.rules.refusal(identity, room)
        if reason is not None:
            raise AuthError(reason)
        return self.rules.effective(identity, room) if room is not None else identity

    # -- changes ---------------------------------------------------------------------

    async def revoke(
        self, kind: RevocationKind, value: str, *, until: float | None = None, by: str = ""
    ) -> Revocation:
        """Revoke a token (`jti`), every token of a user, or every token's access to a
        room issued until now; returns what was stored."""
        if kind not in REVOCATION_KINDS or not value:
            raise ValueError(f"revoke by one of {', '.join(REVOCATION_KINDS)}, with a value")
        now = time.time()
        self.rules.prune(now)
        latest = now + self.max_token_ttl_s  # no token issued before now lives longer
        revocation = Revocation(kind, value, now, min(until, latest) if until else latest, by)
        await self.store.add_revocation(revocation)
        self.rules.add(revocation)
        self.enforce()
        self._publish({"revocation": asdict(revocation)})
        log.info("revoked %s=%s by %s", kind, value, by or "-")
        return revocation

    async def set_grant(self, user: str, room: str, perm: Perm, *, by: str = "") -> GrantRule:
        """Set the most `user` may do in `room` (`read` or `write`), live."""
        if perm not in ("read", "write") or not user or not room:
            raise ValueError("a grant needs a user, a room and perm read or write")
        grant = GrantRule(user, room, perm, time.time(), by)
        await self.store.set_grant(grant)
        self.rules.set_grant(grant)
        self.enforce()
        self._publish({"grant": asdict(grant)})
        log.info("grant %s in %s: %s (by %s)", user, room, perm, by or "-")
        return grant

    async def reload(self) -> None:
        """Take what the database holds, and apply it to live connections."""
        revocations, grants = await self.store.load(time.time())
        before = (self.rules.revocations, self.rules.grants)
        self.rules.replace_all(revocations, grants)
        if (self.rules.revocations, self.rules.grants) != before:
            self.enforce()

    # -- live connections --------------------------------------------------------------

    def watch(self, end_refused: Callable[[Callable[[Identity, str], str | None]], int]) -> None:
        """Also end other connections (event streams) on every change: `end_refused`
        gets the refusal check (identity, room) and returns how many it ended."""
        self._watchers.append(end_refused)

    def enforce(self) -> int:
        """Close the connections whose token is revoked (4401) and give the others the
        write permission their grant leaves; returns how many were closed."""
        closed = 0
        for room in list(self.manager.rooms.values()):
            for conn in list(room.subscribers):
                identity = conn.identity
                if identity.credential is None or conn.closed:
                    continue
                reason = self.rules.refusal(identity, room.name)
                if reason is not None:
                    log.info(
                        "closing room=%s peer=%s user=%s: %s",
                        *(room.name, conn.peer, identity.user_id or "-", reason),
                    )
                    conn.abort(CloseCode.UNAUTHORIZED, reason)
                    closed += 1
                    continue
                effective = self.rules.effective(identity, room.name)
                if effective is not identity:
                    log.info(
                        "room=%s peer=%s user=%s is now %s",
                        *(room.name, conn.peer, identity.user_id or "-"),
                        "read-write" if effective.can_write else "read-only",
                    )
                    conn.change_identity(effective)
        for end_refused in self._watchers:
            closed += end_refused(self.rules.refusal)
        self.closed_connections += closed
        return closed

    # -- the other nodes -----------------------------------------------------------------

    def _publish(self, change: dict[str, Any]) -> None:
        if self.link is not None:
            self.link.publish_notice(TOPIC, json.dumps(change).encode())

    def _on_notice(self, payload: bytes | None) -> None:
        if payload is None:  # the bus reconnected: notices may have been missed
            self._reload_soon()
            return
        try:
            change = json.loads(payload)
            if "revocation" in change:
                self.rules.add(Revocation(**change["revocation"]))
            elif "grant" in change:
                self.rules.set_grant(GrantRule(**change["grant"]))
            else:
                raise ValueError("neither a revocation nor a grant")
        except (ValueError, TypeError) as exc:
            log.warning("ignoring a malformed access notice: %r", exc)
            return
        self.enforce()

    def _reload_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_logged())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # the database is down: the periodic refresh retries
            log.warning("reloading revocations and grants failed: %r", exc)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            await self._reload_logged()
