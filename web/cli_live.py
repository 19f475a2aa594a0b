"""CLI tools that change a database a running server holds go through that server
(its owner record names it: storage/sql/owner.py): `compact` calls
`POST /api/admin/compact`, `import` posts its update to the room, so connected clients
see the change live and the server's caches never see rows appear behind their back.
With `--secret` the tool signs the token it needs itself."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from storage.sql.engine import database_url
from storage.sql.owner import Holder, database_holders
from web.auth import issue_token
from web.keys import keyring_from_args

TOKEN_TTL_S = 600


async def serving_holder(args: argparse.Namespace) -> Holder | None:
    """The live server holding `--db`, unless `--direct` was asked for."""
    if getattr(args, "direct", False) or getattr(args, "url", None):
        return None
    try:
        holders = await database_holders(database_url(args.db))
    except Exception:  # cannot tell (e.g. database down): the direct path will say
        return None
    return holders[0] if holders else None


def auth_headers(args: argparse.Namespace, room: str, *, admin: bool) -> dict[str, str]:
    """`Authorization` for the server: `--token`, or one signed with `--secret`."""
    token = getattr(args, "token", None)
    keyring = None if token else keyring_from_args(args)
    if keyring is not None:
        token = issue_token(
            keyring, room, user="samepage-cli", read_only=False, ttl_s=TOKEN_TTL_S, admin=admin
        )
    return {"Authorization": f"Bearer {token}"} if token else {}


def refused(response: httpx.Response, holder: Holder) -> int | None:
    """Exit code 2 with a line saying what to do when the server refused us."""
    if response.status_code not in (401, 403):
        return None
    print(
        f"error: the server holding the database ({holder.describe()}) refused: "
        f"{response.status_code} {response.text[:200]}; pass --secret (or --token) for it",
        file=sys.stderr,
    )
    return 2


async def compact_via_server(args: argparse.Namespace, holder: Holder) -> int | None:
    """`samepage compact` through the server that holds the database; None when it
    cannot be reached from here (another machine's loopback URL): compacting in this
    process is safe beside it too."""
    body: dict[str, Any] = {"keep_every": args.keep_every}
    if args.older_than:
        body["older_than"] = args.older_than
    if args.room:
        body["rooms"] = args.room
    print(
        f"compacting through the server holding the database ({holder.describe()})", file=sys.stderr
    )
    headers = auth_headers(args, "*", admin=True)
    async with httpx.AsyncClient(base_url=holder.url, headers=headers, timeout=None) as http:
        try:
            response = await http.post("/api/admin/compact", json=body)
        except httpx.TransportError as exc:
            print(f"cannot reach it ({exc!r}): compacting here instead", file=sys.stderr)
            return None
    code = refused(response, holder)
    if code is not None:
        return code
    response.raise_for_status()
    for result in response.json()["rooms"]:
        print(
            f"{result['room']}: up to seq {result['cutoff']}: {result['checkpoints_added']} "
            f"checkpoints added, {result['rows_deleted']} update rows folded",
            file=sys.stderr,
        )
    return 0
