"""`samepage revoke` and `samepage grant` (docs/security.md): through the server that
holds the database (or `--url`), so connections using the token close at once and
the other nodes hear of it; with no server running, written to the database directly
(a server loads them when it starts)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import httpx
import jwt

from storage.access import GrantRule, Revocation
from storage.sql.access import SqlAccessStore
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from sync.names import is_valid_room_name
from web.auth import parse_ttl
from web.cli_live import auth_headers, serving_holder

COMMANDS = ("revoke", "grant")


def add_commands(sub: Any) -> None:
    """Register `revoke` and `grant`."""
    revoke = sub.add_parser("revoke", help="revoke tokens: one (by jti), a user's, a room's")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--jti", help="the token id (`samepage token` prints it)")
    which.add_argument("--user", help="every token of this user (sub) issued until now")
    which.add_argument("--room", help="every token's access to this room, issued until now")
    which.add_argument("--of-token", metavar="TOKEN", help="this token (its jti and expiry)")
    grant = sub.add_parser("grant", help="set what a user may do in a room, live")
    grant.add_argument("room")
    grant.add_argument("user", help="the user (the token's sub, `samepage token --user`)")
    perm = grant.add_mutually_exclusive_group(required=True)
    perm.add_argument("--read-only", action="store_true", help="lower to read-only")
    perm.add_argument("--write", action="store_true", help="lift a read-only limit")
    for command in (revoke, grant):
        command.add_argument("--db", default="samepage.db")
        command.add_argument("--url", help="the server to ask (default: the one holding --db)")
        command.add_argument("--secret", default=None, help="sign")
        command.add_argument("--token", default=None, help="admin token")
        command.add_argument(
            "--max-token-ttl",
            default="30d",
            help="the server's --max-token-ttl (how long a revocation is kept)",
        )


def _revocation_body(args: argparse.Namespace) -> dict[str, Any]:
    if args.of_token:
        try:
            claims = jwt.decode(args.of_token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise SystemExit(f"error: not a token: {exc}") from None
        if not claims.get("jti"):
            raise SystemExit("error: this token has no jti: revoke its --user instead")
        if float(claims.get("exp") or 0) <= time.time():
            raise SystemExit("error: this token has expired already: nothing to revoke")
        return {"jti": str(claims["jti"]), "expires_at": claims.get("exp")}
    for kind in ("jti", "user", "room"):
        if getattr(args, kind):
            return {kind: getattr(args, kind)}
    raise SystemExit("error: give --jti, --user, --room or --of-token")


def run(args: argparse.Namespace) -> int:
    """Run `revoke` or `grant`."""
    if getattr(args, "room", None) is not None and not is_valid_room_name(args.room):
        print(f"error: invalid room name {args.room[:40]!r}", file=sys.stderr)
        return 2
    if args.command == "revoke":
        path, body = "/api/admin/revoke", _revocation_body(args)
    else:
        perm = "read" if args.read_only else "write"
        path, body = "/api/admin/grants", {"user": args.user, "room": args.room, "perm": perm}
    url = args.url
    if url is None:
        holder = asyncio.run(serving_holder(args))
        url = holder.url if holder is not None else None
    if url is None:
        return asyncio.run(_direct(args, body))
    return _via_server(args, url, path, body)


def _via_server(args: argparse.Namespace, url: str, path: str, body: dict[str, Any]) -> int:
    headers = auth_headers(args, "*", admin=True)
    headers["X-Samepage-Author"] = "samepage-cli"
    try:
        response = httpx.post(url + path, json=body, headers=headers, timeout=30)
    except httpx.TransportError as exc:
        print(f"error: cannot reach the server at {url}: {exc!r}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"error: {response.status_code} {response.text[:300]}", file=sys.stderr)
        return 2 if response.status_code in (400, 401, 403) else 1
    print(response.text)
    print(f"done through the server at {url}", file=sys.stderr)
    return 0


async def _direct(args: argparse.Namespace, body: dict[str, Any]) -> int:
    """No server holds the database: store the change; servers load it when they start."""
    store = SqlStore(database_url(args.db))
    await store.start()  # migrations: the access tables exist from here on
    try:
        access = SqlAccessStore(store.engine)
        now = time.time()
        if args.command == "revoke":
            kind = next(k for k in ("jti", "user", "room") if k in body)
            latest = now + parse_ttl(args.max_token_ttl)
            until = min(float(body.get("expires_at") or latest), latest)
            await access.add_revocation(Revocation(kind, body[kind], now, until, "samepage-cli"))
        else:
            grant = GrantRule(body["user"], body["room"], body["perm"], now, "samepage-cli")
            await access.set_grant(grant)
    finally:
        await store.aclose()
    print(f"stored in {args.db} (no server holds it: servers apply it when they start)")
    return 0
