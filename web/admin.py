"""The admin view: `GET /admin` (an HTML page) and `GET /api/admin/stats` (the JSON it
polls every 2 s): rooms with their connections, presence, size, seq, last activity."""

from __future__ import annotations

import datetime as dt
import html
import logging
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from storage.compaction import compact_room
from sync.names import check_room_name
from web.auth import authorize_admin, parse_ttl
from web.bodies import int_field, json_body, str_field
from web.errors import HTTPError
from web.guard import token_of
from web.state import AppState

log = logging.getLogger("samepage.web")
TEMPLATE = Path(__file__).resolve().parent / "templates" / "admin.html"
MAX_ROOMS = 200  # stored rooms listed (most recently edited first); loaded rooms always


def require_admin(request: Request) -> None:
    """With `--secret`, only an admin token (`samepage token '*' --admin`) may look."""
    state: AppState = request.app.state.samepage
    settings = state.settings
    if settings.keyring is not None:
        identity = authorize_admin(settings.keyring, token_of(request), settings.max_token_ttl_s)
        state.access.admit(identity, None)  # a revoked admin token is refused too


def _iso(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="seconds")


def _presence(states: dict[int, Any]) -> list[dict[str, Any]]:
    people = []
    for client_id, state in states.items():
        user = state.get("user") if isinstance(state, dict) else None
        user = user if isinstance(user, dict) else {}
        people.append(
            {
                "client_id": client_id,
                "name": str(user.get("name") or f"client {client_id}"),
                "typing": bool(state.get("typing")) if isinstance(state, dict) else False,
            }
        )
    return people


async def collect_stats(request: Request) -> dict[str, Any]:
    """Everything the admin page shows."""
    state: AppState = request.app.state.samepage
    manager = state.manager
    metrics = request.app.state.metrics
    hub = request.app.state.events
    infos = {info.name: info for info in (await state.store.list_rooms())[:MAX_ROOMS]}
    names = list(manager.rooms) + [n for n in infos if n not in manager.rooms]
    rooms: list[dict[str, Any]] = []
    for name in names:
        room, info = manager.get(name), infos.get(name)
        feed = hub.feeds.get(name)
        edited = info.updated_us / 1e6 if info else None
        active = max(filter(None, [edited, metrics.last_activity.get(name)]), default=None)
        rooms.append(
            {
                "name": name,
                "loaded": room is not None,
                "connections": len(room.subscribers) if room else 0,
                "followers": len(feed.streams) if feed else 0,
                "presence": _presence(room.presence.states()) if room else [],
                "seq": room.seq if room else (info.seq if info else 0),
                "bytes": info.bytes if info else 0,
                "inflight": room.inflight if room else 0,
                "last_activity": _iso(active),
            }
        )
    rooms.sort(key=lambda r: r["last_activity"] or "", reverse=True)
    rooms.sort(key=lambda r: r["connections"] + r["followers"], reverse=True)
    return {
        "time": _iso(time.time()),
        "uptime_s": round(time.monotonic() - metrics.started, 1),
        "connections": state.connections,
        "event_streams": hub.streams,
        "rooms_loaded": len(manager.rooms),
        "rooms_stored": len(infos),
        "rooms": rooms,
    }


def _when(iso: str | None) -> str:
    """`2026-11-25T21:35:00+00:00` → `2026-11-25 21:35:00` (the column says UTC)."""
    return iso[:19].replace("T", " ") if iso else "—"


def _row(room: dict[str, Any]) -> str:
    esc = html.escape
    people = ", ".join(
        esc(p["name"]) + (" (typing)" if p["typing"] else "") for p in room["presence"]
    )
    return (
        f'<tr><td><a href="/r/{esc(room["name"])}#history">{esc(room["name"])}</a></td>'
        f'<td class="n">{room["connections"]}</td><td class="n">{room["followers"]}</td>'
        f"<td>{people or '—'}</td>"
        f'<td class="n">{room["seq"]}</td><td class="n">{room["bytes"]}</td>'
        f"<td>{esc(_when(room['last_activity']))}</td></tr>"
    )


async def admin_page(request: Request) -> Response:
    """`GET /admin`: the rooms table, refreshed from `/api/admin/stats` every 2 s."""
    require_admin(request)
    stats = await collect_stats(request)
    nonce = secrets.token_urlsafe(16)
    page = Template(TEMPLATE.read_text()).substitute(
        nonce=nonce,
        connections=stats["connections"],
        event_streams=stats["event_streams"],
        rooms_loaded=stats["rooms_loaded"],
        rows="".join(_row(r) for r in stats["rooms"])
        or '<tr><td colspan="7">no rooms yet</td></tr>',
    )
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {"Content-Security-Policy": csp, "Cache-Control": "no-store"}
    return HTMLResponse(page, headers=headers)


async def admin_stats(request: Request) -> Response:
    """`GET /api/admin/stats`: connections, rooms, presence (JSON)."""
    require_admin(request)
    return JSONResponse(await collect_stats(request), headers={"Cache-Control": "no-store"})


async def admin_compact(request: Request) -> Response:
    """`POST /api/admin/compact` `{"rooms": [...], "keep_every": 100, "older_than":
    "30d"}`: the retention policy run by this server (what `samepage compact` calls when
    a server holds the database). Rooms one after another; each answers what it did."""
    require_admin(request)
    state: AppState = request.app.state.samepage
    body = await json_body(request, allow_empty=True)
    keep_every = int_field(body, "keep_every", 100, minimum=1)
    older = str_field(body, "older_than", "") if body.get("older_than") is not None else ""
    rooms = body.get("rooms") or []
    if not isinstance(rooms, list) or not all(isinstance(r, str) for r in rooms):
        raise HTTPError(400, "bad_parameter", "rooms must be a list of room names")
    names = [check_room_name(r) for r in rooms]
    try:
        older_us = parse_ttl(older) * 1_000_000 if older else None
    except ValueError as exc:
        raise HTTPError(400, "bad_parameter", f"older_than: {exc}") from None
    if not names:
        names = [info.name for info in await state.store.list_rooms()]
    now = time.time_ns() // 1000
    done = []
    for name in names:
        result = await compact_room(
            state.store, name, keep_every=keep_every, older_than_us=older_us, now_us=now
        )
        log.info(
            "compacted %s up to seq %d: %d checkpoints added, %d rows folded",
            *(name, result.cutoff, result.checkpoints_added, result.rows_deleted),
        )
        done.append(asdict(result))
    return JSONResponse({"rooms": done})


routes = [
    Route("/admin", admin_page, methods=["GET"]),
    Route("/api/admin/stats", admin_stats, methods=["GET"]),
    Route("/api/admin/compact", admin_compact, methods=["POST"]),
]
