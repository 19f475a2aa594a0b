"""CLI commands that read or change stored rooms: rooms, history, export, import, compact.

They open the database directly (no server needed). `import` and `compact` go through
the server that holds the database when one runs (web/cli_live.py), so its clients see
the change live; `import --url` names a server explicitly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pycrdt import Doc

from storage.compaction import compact_room
from storage.history import merged, version_parts
from storage.sql.owner import Holder
from storage.sql.store import SqlStore
from storage.types import Store
from sync.content import deep_limit
from sync.names import check_room_name
from sync.restore import import_text_update
from web.auth import parse_ttl
from web.cli_checks import CliError, check_database, duration, iso_time, positive, seq
from web.cli_live import auth_headers, compact_via_server, refused, serving_holder
from web.jobs import render_parts
from web.params import iso, parse_time


def add_commands(sub: Any) -> None:
    """Register the data commands on the CLI's subparsers."""

    def parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--db", default="samepage.db", help="SQLite path or SQLAlchemy URL")
        return p

    rooms = parser("rooms", "list stored rooms, most recently edited first")
    rooms.add_argument("--json", action="store_true", help="a JSON array, as GET /api/rooms")
    history = parser("history", "show a room's history as a table")
    history.add_argument("room")
    history.add_argument("--limit", type=positive, default=50, help="rows, newest first")
    history.add_argument("--group", choices=["session"], default=None, help="one row a session")
    history.add_argument("--json", action="store_true", help="a JSON array, as the API's")
    export = parser("export", "write a room (or a past version) to stdout or a file")
    export.add_argument("room")
    at = export.add_mutually_exclusive_group()
    at.add_argument("--at", type=seq, help="the version after update SEQ")
    at.add_argument(
        "--time", type=iso_time, help="the last version at or before this ISO 8601 time"
    )
    export.add_argument(
        "--format", choices=["text", "json", "yjs"], default="text", help="output format"
    )
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    imp = parser("import", "add a Yjs update or a plain-text file to a room")
    imp.add_argument("room")
    imp.add_argument("file")
    imp.add_argument("--author", default="import", help="name stored with the change")
    imp.add_argument("--url", help="go through a running server (e.g. http://127.0.0.1:8000)")
    imp.add_argument("--token", default=None, help="for --url with auth")
    imp.add_argument("--secret", default=None, help="sign that token")
    compact = parser("compact", "fold old updates into checkpoints (retention policy)")
    compact.add_argument("--room", action="append", help="only these rooms (repeatable)")
    compact.add_argument(
        "--keep-every",
        type=positive,
        default=100,
        help="keep a restorable version every N updates",
    )
    compact.add_argument(
        "--older-than",
        type=duration,
        default=None,
        help="only compact updates older than this (e.g. 30d, 12h)",
    )
    compact.add_argument(
        "--direct",
        action="store_true",
        help="compact in this process even when a server holds the database (safe too)",
    )
    compact.add_argument("--token", default=None, help="an admin token")
    compact.add_argument("--secret", default=None, help="sign one")


COMMANDS = {"rooms", "history", "export", "import", "compact"}


def run(args: argparse.Namespace) -> int:
    """Run one data command (its inputs checked before any database is opened)."""
    rooms = args.room if args.command == "compact" else [getattr(args, "room", None)]
    for room in filter(None, rooms or []):  # compact without --room: every room
        check_room_name(room)
    url = check_database(args.db, must_exist=args.command != "import")
    if args.command == "import" and not Path(args.file).is_file():
        raise CliError(f"no file to import at {args.file!r}")
    handler: Callable[[Store, argparse.Namespace], Awaitable[int]] = {
        "rooms": _rooms,
        "history": _history,
        "export": _export,
        "import": _import,
        "compact": _compact,
    }[args.command]
    if args.command in ("import", "compact"):
        holder = asyncio.run(serving_holder(args))
        if holder is not None and args.command == "compact":
            code = asyncio.run(compact_via_server(args, holder))
            if code is not None:
                return code
        if holder is not None:
            print(
                f"importing through the server holding the database ({holder.describe()})",
                file=sys.stderr,
            )
            args.url = holder.url
        if args.command == "import" and args.url:
            return asyncio.run(_import_via_server(args, holder))
    return asyncio.run(_with_store(url, lambda store: handler(store, args)))


async def _with_store(url: str, body: Callable[[Store], Awaitable[int]]) -> int:
    store = SqlStore(url)
    await store.start()
    try:
        return await body(store)
    finally:
        await store.aclose()


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in [h, *(r[i] for r in rows)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


async def _rooms(store: Store, args: argparse.Namespace) -> int:
    rooms = await store.list_rooms()
    if args.json:
        keys = ("name", "seq", "bytes", "created_at", "updated_at")
        rows = [(r.name, r.seq, r.bytes, iso(r.created_us), iso(r.updated_us)) for r in rooms]
        return _json([dict(zip(keys, row, strict=True)) for row in rows])
    _table(
        ["room", "seq", "bytes", "updated"],
        [[r.name, r.seq, r.bytes, iso(r.updated_us)] for r in rooms],
    )
    return 0


async def _history(store: Store, args: argparse.Namespace) -> int:
    from storage.changes import sessions

    room = check_room_name(args.room)
    if args.group == "session":
        found = await sessions(store, room, limit=args.limit)
        if args.json:
            return _json(
                [{**asdict(s), "start": iso(s.start_us), "end": iso(s.end_us)} for s in found]
            )
        _table(
            ["seqs", "author", "start", "end", "updates"],
            [
                [f"{s.first_seq}-{s.last_seq}", s.author, iso(s.start_us), iso(s.end_us), s.updates]
                for s in found
            ],
        )
        return 0
    rows = await store.history(room, limit=args.limit)
    if args.json:
        return _json(
            [
                {"seq": r.seq, "time": iso(r.time_us), "author": r.author, "bytes": r.size}
                for r in rows
            ]
        )
    _table(
        ["seq", "time", "author", "bytes"],
        [[r.seq, iso(r.time_us), r.author, r.size] for r in rows],
    )
    return 0


async def _export(store: Store, args: argparse.Namespace) -> int:
    room = check_room_name(args.room)
    info = await store.room_info(room)
    head = info.seq if info else 0
    seq = head if args.at is None else args.at
    if args.time:  # checked by the parser
        seq = await store.seq_at_time(room, parse_time(args.time))
    if seq > head:
        raise CliError(f"--at {seq} is after the head of {room!r} (seq {head})")
    parts = await version_parts(store, room, seq)
    deep_limit()  # json of deeply nested documents, as the server's workers allow
    data = render_parts(parts, args.format, pretty=True)
    if args.output:
        Path(args.output).write_bytes(data)
        print(
            f"wrote {len(data)} bytes ({args.format}, seq {seq}) to {args.output}", file=sys.stderr
        )
    else:
        sys.stdout.buffer.write(data)
    return 0


def import_update(current: bytes, data: bytes) -> bytes:
    """The update to append for a file, given the room's current state: the file itself
    when it is a Yjs update, otherwise plain UTF-8 text that replaces the `content`
    text (small edits, by code points)."""
    try:
        probe: Doc[Any] = Doc()
        probe.apply_update(data)
        if probe.get_state() != b"\x00" or data == b"\x00\x00":
            return data
    except Exception:
        pass
    return import_text_update(current, data.decode("utf-8"))


async def _import(store: Store, args: argparse.Namespace) -> int:
    room = check_room_name(args.room)
    data = Path(args.file).read_bytes()
    info = await store.room_info(room)
    current = merged(await version_parts(store, room, info.seq if info else 0))
    update = import_update(current, data)
    result = await store.append(room, update, args.author)
    print(f"stored as seq {result.seq} in room {room}", file=sys.stderr)
    return 0


async def _import_via_server(args: argparse.Namespace, holder: Holder | None = None) -> int:
    import httpx

    room = check_room_name(args.room)
    headers = {"X-Samepage-Author": args.author, **auth_headers(args, room, admin=False)}
    async with httpx.AsyncClient(base_url=args.url.rstrip("/"), headers=headers) as http:
        try:
            full = await http.get(f"/api/rooms/{room}/content", params={"format": "yjs"})
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach the server at {args.url} ({exc})") from None
        if holder is not None and (code := refused(full, holder)) is not None:
            return code
        full.raise_for_status()
        update = import_update(full.content, Path(args.file).read_bytes())
        response = await http.post(f"/api/rooms/{room}/updates", content=update)
        response.raise_for_status()
    print(f"stored as seq {response.json()['seq']} in room {room}", file=sys.stderr)
    return 0


def _json(value: Any) -> int:
    """Print `value` as JSON (the same shape as the HTTP API's answer)."""
    print(json.dumps(value, ensure_ascii=False, indent=2))
    return 0


def _progress_bar(room: str) -> Callable[[int, int], None] | None:
    """A bar redrawn with `\r` on a terminal; nothing when stderr is a log or a pipe."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(
            f"\r{room[:24]:<24} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} checkpoints"
        )
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


async def _compact(store: Store, args: argparse.Namespace) -> int:
    rooms = args.room or [r.name for r in await store.list_rooms()]
    older = parse_ttl(args.older_than) * 1_000_000 if args.older_than else None
    now = time.time_ns() // 1000
    for room in rooms:
        result = await compact_room(
            store,
            check_room_name(room),
            keep_every=args.keep_every,
            older_than_us=older,
            now_us=now,
            progress=_progress_bar(room),
        )
        print(
            f"{room}: up to seq {result.cutoff}: {result.checkpoints_added} checkpoints "
            f"added, {result.rows_deleted} update rows folded",
            file=sys.stderr,
        )
    return 0
