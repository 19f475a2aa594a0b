"""`SqlAccessStore`: revocations and grants in the server's database (tables
`revocations` and `grants`, migration 4), shared by every node of a cluster."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.access import GrantRule, Revocation, merge_revocation
from storage.sql import schema
from storage.sql.engine import write_transaction
from storage.types import StoreError

RV, G = schema.revocations, schema.grants
US = 1_000_000


def _revocation(row: Any) -> Revocation:
    kind, value, revoked, until, by = row
    return Revocation(kind, value, revoked / US, until / US, by)


class SqlAccessStore:
    """The AccessStore on the app's SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add_revocation(self, revocation: Revocation) -> None:
        """Insert, or widen the stored one (read and replaced in one write transaction)."""
        key = (RV.c.kind == revocation.kind) & (RV.c.value == revocation.value)
        try:
            async with write_transaction(self.engine) as conn:
                row = (
                    await conn.execute(
                        select(
                            RV.c.kind, RV.c.value, RV.c.revoked_us, RV.c.until_us, RV.c.by
                        ).where(key)
                    )
                ).first()
                old = _revocation(row) if row else None
                merged = merge_revocation(old, revocation)
                await conn.execute(delete(RV).where(key))
                await conn.execute(
                    RV.insert().values(
                        kind=merged.kind,
                        value=merged.value,
                        revoked_us=int(merged.revoked_at * US),
                        until_us=int(merged.until * US),
                        by=merged.by[:200],
                    )
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store the revocation: {exc}") from exc

    async def set_grant(self, grant: GrantRule) -> None:
        """Replace the user's grant for the room."""
        key = (G.c.user_id == grant.user) & (G.c.room == grant.room)
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(delete(G).where(key))
                await conn.execute(
                    G.insert().values(
                        user_id=grant.user,
                        room=grant.room,
                        perm=grant.perm,
                        changed_us=int(grant.changed_at * US),
                        by=grant.by[:200],
                    )
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store the grant: {exc}") from exc

    async def load(self, now: float) -> tuple[list[Revocation], list[GrantRule]]:
        """Revocations in force and every grant; expired revocations are deleted."""
        try:
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(
                            RV.c.kind, RV.c.value, RV.c.revoked_us, RV.c.until_us, RV.c.by
                        ).where(RV.c.until_us > int(now * US))
                    )
                ).all()
                grant_rows = (
                    await conn.execute(
                        select(G.c.user_id, G.c.room, G.c.perm, G.c.changed_us, G.c.by)
                    )
                ).all()
            expired = await self._count_expired(now)
            if expired:
                async with write_transaction(self.engine) as conn:
                    await conn.execute(delete(RV).where(RV.c.until_us <= int(now * US)))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read revocations and grants: {exc}") from exc
        grants = [
            GrantRule(user, room, perm, changed / US, by)
            for user, room, perm, changed, by in grant_rows
        ]
        return [_revocation(r) for r in rows], grants

    async def _count_expired(self, now: float) -> int:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(RV.c.kind).where(RV.c.until_us <= int(now * US)).limit(1))
            ).first()
        return 1 if row else 0
