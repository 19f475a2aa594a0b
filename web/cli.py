"""`samepage` command line: a thin layer of flags over typed functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from storage.sql.migrations import SchemaTooNew
from sync.types import SyncSettings
from web import cli_access, cli_data, cli_ops
from web.auth import parse_ttl
from web.settings import Settings, env_default, sync_settings_from
from web.webhooks import config as webhook_config


def _add_serve(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the sync server")
    defaults = Settings()
    serve.add_argument("--host", default=env_default("host", defaults.host))
    serve.add_argument("--port", type=int, default=env_default("port", defaults.port))
    serve.add_argument(
        "--db",
        default=env_default("db", defaults.db),
        help="SQLite path, SQLAlchemy URL (postgresql+asyncpg://...) or memory://",
    )
    serve.add_argument(
        "--sqlite-synchronous",
        default=env_default("sqlite_synchronous", defaults.sqlite_synchronous),
        choices=["FULL", "NORMAL"],
    )
    serve.add_argument(
        "--max-frame-bytes",
        type=int,
        default=env_default("max_frame_bytes", defaults.max_frame_bytes),
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=float,
        default=env_default("shutdown_timeout", defaults.shutdown_timeout),
    )
    serve.add_argument(
        "--ws",
        default=env_default("ws", defaults.ws),
        choices=["native", "websockets-sansio", "websockets", "wsproto"],
        help="WebSocket server: samepage's own (native, the fastest) or uvicorn's (ASGI)",
    )
    serve.add_argument(
        "--ws-ping-interval",
        type=float,
        default=env_default("ws_ping_interval", defaults.ws_ping_interval),
        help="seconds; a silent socket is pinged and dropped after 2-3 intervals (0: off)",
    )
    serve.add_argument("--log-level", default=env_default("log_level", defaults.log_level))
    serve.add_argument(
        "--log-format",
        default=env_default("log_format", defaults.log_format),
        choices=["text", "json"],
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=env_default("access_log", False),
        help="log one line per HTTP request (logger samepage.access)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=env_default("forwarded_allow_ips", defaults.forwarded_allow_ips),
        help="proxies whose X-Forwarded-For/-Proto are believed (comma-separated, '*': all)",
    )
    serve.add_argument(
        "--secret",
        default=env_default("secret", None),
        help="HS256 secret: turns token authentication on (also SAMEPAGE_SECRET)",
    )
    serve.add_argument(
        "--max-token-ttl",
        default=env_default("max_token_ttl", "30d"),
        help="tokens issued for longer are refused; revocations are kept this long",
    )
    serve.add_argument(
        "--open",
        action="store_true",
        default=env_default("open", False),
        help="serve without authentication on a non-loopback address (not recommended)",
    )
    serve.add_argument(
        "--allowed-origin",
        dest="allowed_origins",
        action="append",
        default=None,
        help="allowed browser Origin for WebSockets (repeatable; default: the page's own)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=env_default("max_connections", defaults.max_connections),
    )
    sync_defaults = SyncSettings()
    for flag, name in [
        ("--max-connections-per-room", "max_connections_per_room"),
        ("--max-awareness-bytes", "max_awareness_bytes"),
        ("--outbound-queue-bytes", "outbound_queue_bytes"),
        ("--max-pending-bytes", "max_pending_bytes_per_room"),
        ("--message-burst", "message_burst"),
    ]:
        serve.add_argument(
            flag,
            dest=name,
            type=int,
            default=env_default(flag[2:].replace("-", "_"), getattr(sync_defaults, name)),
        )
    serve.add_argument(
        "--messages-per-second",
        type=float,
        default=env_default("messages_per_second", sync_defaults.messages_per_second),
        help="per-connection message rate limit (0 = unlimited)",
    )
    serve.add_argument(
        "--unload-grace",
        dest="unload_grace_s",
        type=float,
        default=env_default("unload_grace", sync_defaults.unload_grace_s),
    )
    serve.add_argument(
        "--checkpoint-every",
        type=int,
        default=env_default("checkpoint_every", sync_defaults.checkpoint_every),
    )
    serve.add_argument(
        "--text-timelines",
        type=int,
        default=env_default("text_timelines", defaults.text_timelines),
        help="rooms whose text timeline (fast history reads) is kept in memory; 0: none",
    )
    serve.add_argument(
        "--outbound-queue-frames",
        type=int,
        default=env_default("outbound_queue_frames", sync_defaults.outbound_queue_frames),
    )
    serve.add_argument(
        "--redis",
        default=env_default("redis", defaults.redis),
        help="redis://host:port — join a cluster: nodes share rooms through Redis",
    )
    serve.add_argument(
        "--node-id",
        default=env_default("node_id", defaults.node_id),
        help="this node's name in the cluster (default: the host name)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=env_default("workers", defaults.workers),
        help="server processes on this machine (needs --redis and a shared database)",
    )
    serve.add_argument(
        "--unready-after",
        dest="unready_after_failed_commits",
        type=int,
        default=env_default("unready_after", defaults.unready_after_failed_commits),
        help="/readyz answers 503 after this many failed commits in a row",
    )
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        default=env_default("no_migrate", False),
        help="do not migrate the schema on start: refuse a database that needs it",
    )
    webhook_config.add_flags(serve)
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Turn parsed `serve` flags into Settings."""
    values = vars(args)
    origins = args.allowed_origins
    if origins is None:
        env_origins = env_default("allowed_origins", "")
        origins = [o for o in env_origins.split(",") if o.strip()]
    sync = sync_settings_from({**values, "max_update_bytes": args.max_frame_bytes})
    return Settings(
        host=args.host,
        port=args.port,
        db=args.db,
        sqlite_synchronous=args.sqlite_synchronous,
        max_frame_bytes=args.max_frame_bytes,
        shutdown_timeout=args.shutdown_timeout,
        ws=args.ws,
        ws_ping_interval=args.ws_ping_interval,
        log_level=args.log_level,
        log_format=args.log_format,
        secret=args.secret or None,
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
    token.add_argument("--secret", default=env_default("secret", None))
    token.add_argument("--user", default=None, help="user name shown to others")
    token.add_argument("--read-only", action="store_true")
    token.add_argument("--admin", action="store_true", help="may open /admin")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 7d")


def run_token(args: argparse.Namespace) -> int:
    """Print a signed token on the last line of output."""
    from web.auth import issue_token, verify_token

    if not args.secret:
        print("error: --secret or SAMEPAGE_SECRET is required", file=sys.stderr)
        return 2
    mode = "read-only" if args.read_only else "read-write"
    token = issue_token(
        args.secret,
        args.room,
        user=args.user,
        read_only=args.read_only,
        ttl_s=parse_ttl(args.ttl),
        admin=args.admin,
    )
    credential = verify_token(args.secret, token).identity.credential
    jti = credential.token_id if credential else "-"
    print(f"# {mode} token for room {args.room!r}, valid {args.ttl}", file=sys.stderr)
    print(f"# jti {jti} (to revoke it: samepage revoke --jti {jti})", file=sys.stderr)
    print(token)
    return 0


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
    """Refuse an unauthenticated server on a non-loopback address unless --open."""
    if settings.secret or is_loopback(settings.host):
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


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(prog="samepage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    _add_token(sub)
    cli_data.add_commands(sub)
    cli_ops.add_commands(sub)
    cli_access.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `samepage` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from web.server import serve

        try:
            settings = settings_from_args(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        from web.cluster import check_cluster
        from web.owner import check_owner

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
    if args.command in cli_access.COMMANDS:
        return cli_access.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
