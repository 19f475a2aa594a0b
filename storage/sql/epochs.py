"""The lives of a room in SQL (`room_epochs`, and `rooms.epoch`/`base`): forks' origins
here; reset and delete in `storage/sql/reset.py`."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.sql import schema
from storage.sql.engine import write_transaction
from storage.types import Epoch

E, R = schema.room_epochs, schema.rooms


def epoch_of(row: Any) -> Epoch:
    """A `room_epochs` row as an Epoch."""
    return Epoch(
        room=row.room,
        epoch=int(row.epoch),
        started_us=int(row.started_us),
        origin_room=row.origin_room,
        origin_epoch=None if row.origin_epoch is None else int(row.origin_epoch),
        origin_seq=None if row.origin_seq is None else int(row.origin_seq),
        ended_us=None if row.ended_us is None else int(row.ended_us),
        ended_by=row.ended_by,
        last_seq=None if row.last_seq is None else int(row.last_seq),
        kept=row.archive is not None,
        archive=row.archive,
    )


async def list_epochs(engine: AsyncEngine, room: str) -> list[Epoch]:
    """Recorded epochs of `room`, oldest first."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(E).where(E.c.room == room).order_by(E.c.epoch))).all()
    return [epoch_of(r) for r in rows]


async def retired_clients(conn: AsyncConnection, room: str) -> tuple[bytes, ...]:
    """The state vectors of the last documents of the room's ended epochs."""
    rows = await conn.execute(select(E.c.clients).where(E.c.room == room, E.c.clients.is_not(None)))
    return tuple(bytes(r[0]) for r in rows)


async def current_epoch(conn: AsyncConnection, room: str) -> int:
    """The room's epoch (0 when it has no row yet)."""
    value = (await conn.execute(select(R.c.epoch).where(R.c.name == room))).scalar()
    return int(value or 0)


async def record_origin(engine: AsyncEngine, room: str, origin: str, epoch: int, seq: int) -> None:
    """Note where `room`'s current epoch was copied from (insert or update its row)."""
    now = time.time_ns() // 1000
    values = {"origin_room": origin, "origin_epoch": epoch, "origin_seq": seq}
    async with write_transaction(engine) as conn:
        current = await current_epoch(conn, room)
        done = await conn.execute(
            update(E).where(E.c.room == room, E.c.epoch == current).values(**values)
        )
        if not done.rowcount:
            await conn.execute(
                E.insert().values(room=room, epoch=current, started_us=now, **values)
            )
