"""What the CLI checks before it acts, and how it reports a failure: argparse types
for sequence numbers, durations and times; the `--db` a command may use; whether a
server may listen where it was asked to without authentication; and one line on stderr
(never a traceback) for each kind of error a command can meet."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from storage.sql.engine import database_url
from web.auth import parse_ttl
from web.keys import KeyConfigError
from web.params import parse_time
from web.settings import Settings

SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg")


class CliError(Exception):
    """A failure the user can fix, said in one line."""


def seq(text: str) -> int:
    """An argparse type: a sequence number (0 or more)."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a sequence number (0, 1, 2 …)")
    return int(text)


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def window_seconds(text: str) -> float:
    """An argparse type: a number of seconds from 0 to 1 (a group-commit window)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 1")
    return value


def duration(text: str) -> str:
    """An argparse type: a duration such as 90s, 15m, 1h or 7d (kept as written)."""
    try:
        parse_ttl(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def iso_time(text: str) -> str:
    """An argparse type: an ISO 8601 time such as 2026-12-07T10:00 (kept as written)."""
    try:
        parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-07T10:00:00Z)"
        ) from None
    return text


def check_database(db: str, *, must_exist: bool, allow_memory: bool = False) -> str:
    """The SQLAlchemy URL of `--db`, or a CliError: an unknown scheme, a folder that
    does not exist, or (for commands that only read) a SQLite file that does not."""
    if db.startswith("memory://"):
        if allow_memory:
            return db
        raise CliError("--db memory:// holds nothing between runs: name a database file or URL")
    if "://" in db:
        scheme = db.split("://", 1)[0]
        if scheme not in SCHEMES:
            raise CliError(
                f"--db {db!r}: unknown database scheme {scheme!r} "
                "(use a SQLite path, sqlite:///path or postgresql://user@host/db)"
            )
    url = database_url(db)
    if not url.startswith("sqlite"):
        return url
    path = Path(url.split(":///", 1)[1])
    if not path.parent.is_dir():
        raise CliError(f"--db {db!r}: the folder {str(path.parent)!r} does not exist")
    if must_exist and not path.is_file():
        raise CliError(f"--db {db!r}: no database there (check --db or SAMEPAGE_DB)")
    return url


def report(exc: BaseException, prog: str = "samepage") -> int:
    """Print one line for a failed command; its exit code."""
    import httpx
    from sqlalchemy.exc import SQLAlchemyError

    from storage.types import StoreError
    from sync.errors import InvalidRoomName

    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    if isinstance(exc, InvalidRoomName):
        line = (
            f"{exc}: room names start with a letter or a digit and use only letters, "
            "digits, '.', '_' and '-' (up to 128 characters)"
        )
    elif isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        line = f"the server answered {response.status_code}: {response.text[:200]}"
    elif isinstance(exc, httpx.TransportError):
        line = f"cannot reach the server ({type(exc).__name__}: {exc})"
    elif isinstance(exc, OSError) and exc.filename is not None:
        line = f"{exc.strerror or exc}: {exc.filename}"
    elif isinstance(exc, StoreError | SQLAlchemyError):
        line = f"database: {str(exc).splitlines()[0]}"
    elif isinstance(exc, CliError | ValueError):
        line = str(exc)
    else:
        line = f"unexpected {type(exc).__name__}: {exc} (please report this)"
    print(f"{prog}: error: {line}", file=sys.stderr)
    return 1


def is_loopback(host: str) -> bool:
    """Is `host` a loopback address (or localhost)?"""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> str | None:
    """Refuse an unauthenticated server on a non-loopback address unless --open (and
    keys that cannot be used)."""
    try:
        keyring = settings.keyring
    except KeyConfigError as exc:
        return str(exc)
    if keyring is not None or is_loopback(settings.host):
        return None
    if not settings.open:
        return (
            f"refusing to serve on {settings.host} without authentication: "
            "set --secret (or SAMEPAGE_SECRET), or pass --open to accept the risk"
        )
    print(
        f"WARNING: serving on {settings.host} with NO authentication (--open): "
        "anyone who can reach this port can read and change every room",
        file=sys.stderr,
    )
    return None
