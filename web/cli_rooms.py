"""`samepage reset ROOM` and `samepage delete ROOM` (docs/rooms.md): through the server
holding the database when one runs (its clients are closed 4410 and load the new
document), else on the database directly."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import httpx

from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from sync.names import check_room_name
from web.cli_live import auth_headers, refused, serving_holder

COMMANDS = {"reset", "delete"}


def add_commands(sub: Any) -> None:
    """Register `reset` and `delete`."""
    for name, text in (
        ("reset", "start a room over with an empty document (its history kept as an epoch)"),
        ("delete", "remove a room and all its history"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("room")
        parser.add_argument("--db", default="samepage.db", help="SQLite path or SQLAlchemy URL")
        if name == "reset":
            parser.add_argument(
                "--no-keep-history",
                dest="keep",
                action="store_false",
                help="drop the old history instead of keeping it readable as an epoch",
            )
        parser.add_argument("--url", help="the server to ask (default: the one holding --db)")
        parser.add_argument("--token", default=None, help="an admin token")
        parser.add_argument("--secret", default=None, help="sign one")


def _say(room: str, how: str, body: dict[str, Any]) -> None:
    previous = body["previous"]
    if how == "delete":
        print(f"room {room} deleted (it was at seq {previous['last_seq']})", file=sys.stderr)
    else:
        kept = (
            f"kept: GET /api/rooms/{room}/epochs/{previous['epoch']}/content"
            if previous["kept"]
            else "dropped"
        )
        print(
            f"room {room} reset: epoch {body['epoch']} starts empty; epoch "
            f"{previous['epoch']} (up to seq {previous['last_seq']}) {kept}",
            file=sys.stderr,
        )


async def _via_server(args: argparse.Namespace, url: str, room: str, holder: Any) -> int:
    headers = auth_headers(args, "*", admin=True)
    async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=60) as http:
        if args.command == "reset":
            response = await http.post(f"/api/rooms/{room}/reset", json={"keep_history": args.keep})
        else:
            response = await http.delete(f"/api/rooms/{room}")
    if holder is not None and (code := refused(response, holder)) is not None:
        return code
    if response.status_code != 200:
        print(f"error: {response.status_code} {response.text[:300]}", file=sys.stderr)
        return 1
    _say(room, args.command, response.json())
    return 0


async def _direct(args: argparse.Namespace, room: str) -> int:
    store = SqlStore(database_url(args.db))
    await store.start()
    try:
        keep = args.command == "reset" and args.keep
        end = await store.end_epoch(room, args.command, keep)
    finally:
        await store.aclose()
    previous = {"epoch": end.epoch - 1, "last_seq": end.last_seq, "kept": end.archive is not None}
    _say(room, args.command, {"epoch": end.epoch, "previous": previous})
    return 0


def run(args: argparse.Namespace) -> int:
    """Reset or delete one room."""
    room = check_room_name(args.room)
    holder = asyncio.run(serving_holder(args))
    url = args.url or (holder.url if holder is not None else None)
    if url:
        return asyncio.run(_via_server(args, url, room, holder))
    return asyncio.run(_direct(args, room))
