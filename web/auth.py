"""Signed access tokens (JWT, HS256): who the user is, which rooms, read or write."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import time
import uuid
from dataclasses import dataclass

import jwt

from sync.errors import CloseCode, SyncError
from sync.types import Credential, Identity
from web.keys import DEFAULT_KID, Keyring

ALGORITHM = "HS256"
ISSUER = "samepage"


class AuthError(SyncError):
    """Authentication failed: missing, malformed, badly signed or expired token."""

    code = CloseCode.UNAUTHORIZED


class NotAllowed(SyncError):
    """A valid token that does not grant this room or this action."""

    code = CloseCode.FORBIDDEN


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token allows."""

    identity: Identity
    room_pattern: str
    admin: bool


_TTL = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?) ?([smhd]?)", re.ASCII)
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_DAYS = 36_500


def parse_ttl(text: str) -> int:
    """'90s', '15m', '1h', '7d' or plain seconds → seconds; ValueError for anything
    else ('forever', '-5m', 'infd') or more than MAX_TTL_DAYS."""
    found = _TTL.fullmatch(text.strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 1h or 7d")
    seconds = float(found[1]) * _TTL_UNITS[found[2] or "s"]
    if seconds > MAX_TTL_DAYS * 86400:
        raise ValueError(f"{text!r} is longer than {MAX_TTL_DAYS} days")
    return int(seconds)


def issue_token(
    secret: str | Keyring,
    room: str,
    *,
    user: str | None = None,
    read_only: bool = False,
    ttl_s: int = 3600,
    admin: bool = False,
) -> str:
    """A token for `room` (a name or a glob pattern such as `team-*`, `*` = all rooms),
    signed with the keyring's signing key (a plain secret: kid `default`)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": user or f"user-{uuid.uuid4().hex[:8]}",
        "name": user,
        "room": room,
        "perm": "read" if read_only else "write",
        "admin": admin,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    keyring = Keyring.of(secret)
    return jwt.encode(
        claims, keyring.signing_secret, algorithm=ALGORITHM, headers={"kid": keyring.signing}
    )


def verify_token(secret: str | Keyring, token: str | None, max_ttl_s: float | None = None) -> Grant:
    """Check the signature with the key the token names (`kid`; none: `default`), and
    expiry (and, given `max_ttl_s`, that the token was not issued for longer); raise
    AuthError (4401) when they fail — a key that is not active is a retired one."""
    if not token:
        raise AuthError("missing token")
    kid = _kid_of(token)
    key = Keyring.of(secret).keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise AuthError(f"token signed with a retired or unknown key (kid {str(kid)[:64]!r})")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "room", "perm", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {type(exc).__name__}") from exc
    perm = claims.get("perm")
    if perm not in {"read", "write"} or not isinstance(claims.get("room"), str):
        raise AuthError("invalid token claims")
    name = claims.get("name") or None
    jti = str(claims.get("jti") or "")
    issued, expires = float(claims.get("iat") or 0), float(claims["exp"])
    if max_ttl_s is not None and expires - issued > max_ttl_s:
        raise AuthError(f"token lifetime over the server's maximum ({max_ttl_s:.0f}s)")
    credential = Credential(jti, issued, expires, writable=perm == "write")
    identity = Identity(str(claims["sub"]), name, perm == "write", credential)
    return Grant(identity, claims["room"], bool(claims.get("admin", False)))


def _kid_of(token: str) -> object:
    """The `kid` of the token's header (`default` when absent), read by hand: PyJWT's
    get_unverified_header decodes the whole token (~50 us, as much again as checking
    it); the signature check that follows trusts nothing read here."""
    head = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise AuthError("invalid token: DecodeError") from exc
    if not isinstance(header, dict):
        raise AuthError("invalid token: DecodeError")
    return header.get("kid", DEFAULT_KID)


def authorize(
    secret: str | Keyring, token: str | None, room: str | None, max_ttl_s: float | None = None
) -> Identity:
    """Verify a token and check it grants `room` (None: any room-independent call)."""
    grant = verify_token(secret, token, max_ttl_s)
    if room is not None and not fnmatch.fnmatchcase(room, grant.room_pattern):
        raise NotAllowed("token does not grant this room")
    return grant.identity


def authorize_admin(
    secret: str | Keyring, token: str | None, max_ttl_s: float | None = None
) -> Identity:
    """Verify an admin token."""
    grant = verify_token(secret, token, max_ttl_s)
    if not grant.admin:
        raise NotAllowed("admin token required")
    return grant.identity
