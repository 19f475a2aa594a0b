"""Admin routes that change access live (docs/security.md), for the admin page and
`samepage revoke` / `samepage grant` (web/cli_access.py):

- `POST /api/admin/revoke` `{"jti": ID}` | `{"user": SUB}` | `{"room": NAME}` (optional
  `"expires_at"`: the token's `exp`, so a jti revocation is kept no longer than needed)
- `POST /api/admin/grants` `{"user": SUB, "room": NAME, "perm": "read" | "write"}`
- `GET /api/admin/access`: the revocations in force and the stored grants."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.access import REVOCATION_KINDS, GrantRule, Revocation
from sync.names import check_room_name
from web.admin import require_admin
from web.bodies import json_body, str_field
from web.errors import HTTPError
from web.params import iso, state_of

MAX_VALUE = 200


def _revocation_json(revocation: Revocation) -> dict[str, Any]:
    body = asdict(revocation)
    body["revoked_at_iso"] = iso(int(revocation.revoked_at * 1e6))
    body["until_iso"] = iso(int(revocation.until * 1e6))
    return body


def _grant_json(grant: GrantRule) -> dict[str, Any]:
    body = asdict(grant)
    body["changed_at_iso"] = iso(int(grant.changed_at * 1e6))
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = str_field(body, key, "", MAX_VALUE)
    if not value:
        raise HTTPError(400, "bad_parameter", f"{key} must be a non-empty string")
    return value


def _admin_name(request: Request) -> str:
    return request.headers.get("x-samepage-author", "admin")[:MAX_VALUE]


async def revoke(request: Request) -> Response:
    """Revoke by jti, user or room; live connections using such tokens close 4401."""
    require_admin(request)
    state = state_of(request)
    body = await json_body(request)
    given = [kind for kind in REVOCATION_KINDS if kind in body]
    if len(given) != 1:
        raise HTTPError(400, "bad_parameter", "give exactly one of jti, user, room")
    kind = given[0]
    value = _text(body, kind)
    if kind == "room":
        value = check_room_name(value)
    until = body.get("expires_at")
    if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))):
        raise HTTPError(400, "bad_parameter", "expires_at must be seconds since the epoch")
    if until is not None and until <= time.time():
        raise HTTPError(400, "bad_parameter", "expires_at is past: that token has expired")
    before = state.access.closed_connections
    revocation = await state.access.revoke(kind, value, until=until, by=_admin_name(request))
    closed = state.access.closed_connections - before
    return JSONResponse({"revoked": _revocation_json(revocation), "closed_here": closed})


async def set_grant(request: Request) -> Response:
    """Set a user's grant for a room; live connections follow without reconnecting."""
    require_admin(request)
    state = state_of(request)
    body = await json_body(request)
    user, room = _text(body, "user"), check_room_name(_text(body, "room"))
    perm = body.get("perm")
    if perm not in ("read", "write"):
        raise HTTPError(400, "bad_parameter", 'perm must be "read" or "write"')
    grant = await state.access.set_grant(user, room, perm, by=_admin_name(request))
    return JSONResponse({"grant": _grant_json(grant)})


async def list_access(request: Request) -> Response:
    """The revocations in force and the stored grants."""
    require_admin(request)
    rules = state_of(request).access.rules
    return JSONResponse(
        {
            "revocations": [_revocation_json(r) for r in rules.revocations.values()],
            "grants": [_grant_json(g) for g in rules.grants.values()],
        },
        headers={"Cache-Control": "no-store"},
    )


routes = [
    Route("/api/admin/revoke", revoke, methods=["POST"]),
    Route("/api/admin/grants", set_grant, methods=["POST"]),
    Route("/api/admin/access", list_access, methods=["GET"]),
]
