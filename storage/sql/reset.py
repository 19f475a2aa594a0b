"""Ending a room's epoch in SQL (`SqlStore.end_epoch`, docs/rooms.md): reset keeps the
old history under an archive key (a name no room can have: it starts with `~`), delete
drops it and every earlier kept epoch; both start the next epoch after a one-seq gap,
with an empty checkpoint at its base, and note the old document's state vector so that
its clients are refused later. One transaction that first locks the room's row: a
node's group commit for the room waits for it, and afterwards finds the new epoch and
stores nothing (`storage/sql/writer.py`)."""

from __future__ import annotations

import asyncio
import time
import uuid

from pycrdt import Doc
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import schema
from storage.types import EpochEnd
from storage.ysplit import state_of_parts

U, C, R, V, T, E = (
    schema.updates,
    schema.checkpoints,
    schema.rooms,
    schema.versions,
    schema.text_timelines,
    schema.room_epochs,
)
EMPTY_STATE = Doc().get_update()


async def _final_state_vector(conn: AsyncConnection, room: str, seq: int) -> bytes:
    """The state vector of the room's document at `seq` (its last checkpoint and the
    rows after it, read in the transaction; decoded in a thread)."""
    row = (
        await conn.execute(
            select(C.c.seq, C.c.state).where(C.c.room == room).order_by(C.c.seq.desc()).limit(1)
        )
    ).first()
    parts = [bytes(row[1])] if row else []
    after = int(row[0]) if row else 0
    rows = await conn.execute(
        select(U.c.data).where(U.c.room == room, U.c.seq > after, U.c.seq <= seq).order_by(U.c.seq)
    )
    parts += [bytes(r[0]) for r in rows]
    return await asyncio.to_thread(state_of_parts, parts)


async def _move(conn: AsyncConnection, room: str, archive: str | None) -> None:
    """The room's history rows to `archive`, or gone (None)."""
    for table in (U, C, V):
        if archive is None:
            await conn.execute(delete(table).where(table.c.room == room))
        else:
            await conn.execute(update(table).where(table.c.room == room).values(room=archive))
    await conn.execute(delete(T).where(T.c.room == room))


async def _drop_archives(conn: AsyncConnection, room: str) -> None:
    """Every kept earlier epoch of `room` (a delete removes its whole history)."""
    archives = (
        await conn.execute(select(E.c.archive).where(E.c.room == room, E.c.archive.is_not(None)))
    ).all()
    for (archive,) in archives:
        await _move(conn, archive, None)
        await conn.execute(delete(R).where(R.c.name == archive))
    await conn.execute(
        update(E)
        .where(E.c.room == room)
        .values(archive=None, origin_room=None, origin_epoch=None, origin_seq=None)
    )


async def end_epoch(conn: AsyncConnection, room: str, how: str, keep: bool) -> EpochEnd:
    """See `Store.end_epoch`; runs inside the caller's write transaction."""
    now = time.time_ns() // 1000
    query = select(R.c.seq, R.c.epoch, R.c.base, R.c.bytes, R.c.created_us).where(R.c.name == room)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    seq, epoch, base, size, created = (
        (int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
        if row
        else (0, 0, 0, 0, now)
    )
    clients = await _final_state_vector(conn, room, seq) if seq > base else None
    archive = None
    if keep and how == "reset" and seq > base:
        archive = f"~{uuid.uuid4().hex}"
        await conn.execute(
            insert(R).values(
                name=archive,
                seq=seq,
                bytes=size,
                created_us=created,
                updated_us=now,
                epoch=epoch,
                base=base,
            )
        )
    await _move(conn, room, archive)
    if how == "delete":
        await _drop_archives(conn, room)
    ended = {
        "ended_us": now,
        "ended_by": how,
        "last_seq": seq,
        "archive": archive,
        "clients": clients,
    }
    done = await conn.execute(update(E).where(E.c.room == room, E.c.epoch == epoch).values(**ended))
    if not done.rowcount:
        await conn.execute(insert(E).values(room=room, epoch=epoch, started_us=created, **ended))
    new_base = seq + 1  # a gap: nothing of the old epoch continues into the new one
    values = {
        "seq": new_base,
        "bytes": 0,
        "updated_us": now,
        "epoch": epoch + 1,
        "base": new_base,
        "deleted_us": now if how == "delete" else None,
    }
    if row:
        await conn.execute(update(R).where(R.c.name == room).values(**values))
    else:
        await conn.execute(insert(R).values(name=room, created_us=now, **values))
    await conn.execute(insert(E).values(room=room, epoch=epoch + 1, started_us=now))
    await conn.execute(insert(C).values(room=room, seq=new_base, time_us=now, state=EMPTY_STATE))
    return EpochEnd(room, epoch + 1, new_base, seq, archive)
