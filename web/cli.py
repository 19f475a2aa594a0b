"""`samepage` command line: a thin layer of flags over typed functions (flag ↔
variable rule: web/cli_env.py; checks and error lines: web/cli_checks.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from storage.sql.migrations import SchemaTooNew
from sync.types import SyncSettings
from web import cli_access, cli_data, cli_ops, cli_rooms
from web.auth import parse_ttl
from web.cli_checks import check_database, check_exposure, duration, report, window_seconds
from web.cli_env import HelpFormatter, Parser, apply_env, check_env
from web.keys import KeyConfigError, add_key_flags, keyring_from_args, keys_of
from web.settings import Settings, package_version, sync_settings_from
from web.webhooks import config as webhook_config

DESCRIPTION = """samepage: documents many people edit at once, in the browser or from any Yjs
client, with every change kept.

  samepage serve                 run the server (open http://127.0.0.1:8000)
  samepage token ROOM --secret S  issue an access token
  samepage rooms | history | export | import | compact   work with stored rooms

Each flag of serve can also be set by a variable: --flag-name = SAMEPAGE_FLAG_NAME."""


def _add_serve(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the sync server",
        description="Run the sync server: the page at /, WebSockets at /ws/{room}, "
        "the HTTP API at /api (described at /openapi.json).",
    )
    defaults = Settings()
    serve.add_argument("--host", default=defaults.host, help="address to listen on")
    serve.add_argument("--port", type=int, default=defaults.port, help="TCP port")
    serve.add_argument(
        "--db",
        default=defaults.db,
        help="SQLite path, SQLAlchemy URL (postgresql://user@host/db) or memory://",
    )
    serve.add_argument(
        "--sqlite-synchronous",
        default=defaults.sqlite_synchronous,
        choices=["FULL", "NORMAL"],
        help="SQLite fsync policy: FULL survives power loss, NORMAL only crashes",
    )
    serve.add_argument(
        "--commit-window",
        type=window_seconds,
        default=defaults.commit_window,
        help="seconds: under load, the longest a group commit waits to take more updates "
        "(longer: less CPU an update, more latency; 0: commit back to back)",
    )
    serve.add_argument(
        "--max-frame-bytes",
        type=int,
        default=defaults.max_frame_bytes,
        help="largest WebSocket frame and HTTP update accepted",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=float,
        default=defaults.shutdown_timeout,
        help="seconds to flush rooms and close clients on SIGTERM",
    )
    serve.add_argument(
        "--ws",
        default=defaults.ws,
        choices=["native", "websockets-sansio", "websockets", "wsproto"],
        help="WebSocket server: samepage's own (native, the fastest) or uvicorn's (ASGI)",
    )
    serve.add_argument(
        "--ws-ping-interval",
        type=float,
        default=defaults.ws_ping_interval,
        help="seconds; a silent socket is pinged and dropped after 2-3 intervals (0: off)",
    )
    serve.add_argument(
        "--log-level",
        default=defaults.log_level,
        type=str.lower,
        choices=["debug", "info", "warning", "error"],
        help="log verbosity",
    )
    serve.add_argument(
        "--log-format",
        default=defaults.log_format,
        choices=["text", "json"],
        help="log lines as text or one JSON object each",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=False,
        help="log one line per HTTP request (logger samepage.access)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=defaults.forwarded_allow_ips,
        help="proxies whose X-Forwarded-For/-Proto are believed (comma-separated, '*': all)",
    )
    serve.add_argument(
        "--secret",
        default=None,
        help="HS256 secret: turns token authentication on",
    )
    add_key_flags(serve)
    serve.add_argument(
        "--max-token-ttl",
        default="30d",
        type=duration,
        help="tokens issued for longer are refused; revocations are kept this long",
    )
    serve.add_argument(
        "--open",
        action="store_true",
        default=False,
        help="serve without authentication on a non-loopback address (not recommended)",
    )
    serve.add_argument(
        "--allowed-origin",
        dest="allowed_origins",
        action="append",
        default=None,
        help="browser Origin allowed to connect and call the API (repeatable; the "
        "variable takes a comma-separated list; '*' = any; default: the page's own)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="WebSocket connections this server accepts (0 = unlimited)",
    )
    sync_defaults = SyncSettings()
    for flag, name, help_text in [
        ("--max-connections-per-room", "max_connections_per_room", "0 = unlimited"),
        ("--max-awareness-bytes", "max_awareness_bytes", "largest presence/ephemeral message"),
        ("--outbound-queue-bytes", "outbound_queue_bytes", "a slower reader is disconnected"),
        ("--max-pending-bytes", "max_pending_bytes_per_room", "unsaved bytes held per room"),
        ("--message-burst", "message_burst", "messages a connection may send at once"),
    ]:
        serve.add_argument(
            flag, dest=name, type=int, default=getattr(sync_defaults, name), help=help_text
        )
    serve.add_argument(
        "--messages-per-second",
        type=float,
        default=sync_defaults.messages_per_second,
        help="per-connection message rate limit (0 = unlimited)",
    )
    serve.add_argument(
        "--unload-grace",
        dest="unload_grace_s",
        type=float,
        default=sync_defaults.unload_grace_s,
        help="seconds an empty room stays loaded",
    )
    serve.add_argument(
        "--checkpoint-every",
        type=int,
        default=sync_defaults.checkpoint_every,
        help="store a full checkpoint every N updates (fast loads and history reads)",
    )
    serve.add_argument(
        "--text-timelines",
        type=int,
        default=defaults.text_timelines,
        help="rooms whose text timeline (fast history reads) is kept in memory; 0: none",
    )
    serve.add_argument(
        "--outbound-queue-frames",
        type=int,
        default=sync_defaults.outbound_queue_frames,
        help="frames queued per connection before it counts as slow",
    )
    serve.add_argument(
        "--redis",
        default=defaults.redis,
        help="redis://host:port — join a cluster: nodes share rooms through Redis",
    )
    serve.add_argument(
        "--node-id",
        default=defaults.node_id,
        help="this node's name in the cluster (default: the host name)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="server processes on this machine (needs --redis and a shared database)",
    )
    serve.add_argument(
        "--unready-after",
        dest="unready_after_failed_commits",
        type=int,
        default=defaults.unready_after_failed_commits,
        help="/readyz answers 503 after this many failed commits in a row",
    )
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        default=False,
        help="do not migrate the schema on start: refuse a database that needs it",
    )
    webhook_config.add_flags(serve)
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Turn parsed `serve` flags into Settings."""
    values = vars(args)
    origins = args.allowed_origins or []
    sync = sync_settings_from({**values, "max_update_bytes": args.max_frame_bytes})
    return Settings(
        host=args.host,
        port=args.port,
        db=args.db,
        sqlite_synchronous=args.sqlite_synchronous,
        commit_window=args.commit_window,
        max_frame_bytes=args.max_frame_bytes,
        shutdown_timeout=args.shutdown_timeout,
        ws=args.ws,
        ws_ping_interval=args.ws_ping_interval,
        log_level=args.log_level,
        log_format=args.log_format,
        secret=args.secret or None,
        keys=tuple(keys_of(args)),
        signing_key=args.signing_key or "",
        max_token_ttl_s=parse_ttl(args.max_token_ttl),
        open=bool(args.open),
        allowed_origins=tuple(o.strip().rstrip("/") for o in origins),
        max_connections=args.max_connections,
        redis=args.redis,
        node_id=args.node_id,
        workers=args.workers,
        reuse_port=bool(args.reuse_port),
        unready_after_failed_commits=max(1, args.unready_after_failed_commits),
        text_timelines=max(0, args.text_timelines),
        migrate=not args.no_migrate,
        access_log=bool(args.access_log),
        webhooks=webhook_config.settings_from(args),
        forwarded_allow_ips=args.forwarded_allow_ips,
        sync=sync,
    )


def _add_token(sub: Any) -> None:
    token = sub.add_parser("token", help="issue an access token for a room")
    token.add_argument("room", help="room name or glob pattern (e.g. 'team-*', '*')")
    token.add_argument("--secret", default=None, help="the server's --secret")
    add_key_flags(token)
    token.add_argument("--user", default=None, help="user name shown to others")
    token.add_argument("--read-only", action="store_true", help="may read, not write")
    token.add_argument("--admin", action="store_true", help="may open /admin")
    token.add_argument("--ttl", default="1h", type=duration, help="lifetime: 90s, 15m, 1h, 7d")


def run_token(args: argparse.Namespace) -> int:
    """Print a signed token on the last line of output."""
    from web.auth import issue_token, verify_token

    try:
        keyring = keyring_from_args(args)
    except KeyConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if keyring is None:
        print(
            "error: --secret or --key (SAMEPAGE_SECRET, SAMEPAGE_KEY) is required", file=sys.stderr
        )
        return 2
    mode = "read-only" if args.read_only else "read-write"
    token = issue_token(
        keyring,
        args.room,
        user=args.user,
        read_only=args.read_only,
        ttl_s=parse_ttl(args.ttl),
        admin=args.admin,
    )
    credential = verify_token(keyring, token).identity.credential
    jti = credential.token_id if credential else "-"
    print(
        f"# {mode} token for room {args.room!r}, valid {args.ttl}, key {keyring.signing!r}",
        file=sys.stderr,
    )
    print(f"# jti {jti} (to revoke it: samepage revoke --jti {jti})", file=sys.stderr)
    print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = Parser(prog="samepage", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"samepage {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(sub)
    _add_token(sub)
    cli_data.add_commands(sub)
    cli_ops.add_commands(sub)
    cli_access.add_commands(sub)
    cli_rooms.add_commands(sub)
    apply_env(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `samepage` console script: one line on stderr and a non-zero
    exit for any failure a user can meet, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    bad_env = check_env(args)
    if bad_env:
        print(f"samepage {args.command}: error: {bad_env}", file=sys.stderr)
        return 2
    try:
        return _run(args, argv)
    except (Exception, KeyboardInterrupt) as exc:
        return report(exc, f"samepage {args.command}")


def _run(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    if args.command == "serve":
        from web.server import serve

        try:
            settings = settings_from_args(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        from web.cluster import check_cluster
        from web.owner import check_owner

        check_database(settings.db, must_exist=False, allow_memory=True)
        refusal = (
            check_exposure(settings)
            or check_cluster(settings)
            or check_owner(settings)
            or cli_ops.check_schema(settings)
        )
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 2
        if settings.workers > 1:
            from web.workers import run_workers

            return run_workers(settings, list(sys.argv[1:] if argv is None else argv))
        serve(settings)
        return 0
    if args.command == "token":
        return run_token(args)
    if args.command in cli_ops.COMMANDS:
        return cli_ops.run(args)
    if args.command in cli_data.COMMANDS:
        try:
            return cli_data.run(args)
        except SchemaTooNew as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.command in cli_rooms.COMMANDS:
        return cli_rooms.run(args)
    if args.command in cli_access.COMMANDS:
        return cli_access.run(args)
    return 2


def entry() -> int:
    """The `samepage` command: `main` in a process of its own, where big updates are
    applied whole (`serve` splits them again for its event loop: web.server)."""
    from storage.ysplit import use_pieces

    use_pieces(False)
    return main()


if __name__ == "__main__":
    sys.exit(entry())
