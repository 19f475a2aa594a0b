"""`samepage` command line: a thin layer of flags over typed functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from sync.types import SyncSettings
from web.settings import Settings, env_default, sync_settings_from


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
    serve.add_argument("--log-level", default=env_default("log_level", defaults.log_level))
    serve.add_argument(
        "--log-format",
        default=env_default("log_format", defaults.log_format),
        choices=["text", "json"],
    )
    sync_defaults = SyncSettings()
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
        "--outbound-queue-frames",
        type=int,
        default=env_default("outbound_queue_frames", sync_defaults.outbound_queue_frames),
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Turn parsed `serve` flags into Settings."""
    values = vars(args)
    sync = sync_settings_from({**values, "max_update_bytes": args.max_frame_bytes})
    return Settings(
        host=args.host,
        port=args.port,
        db=args.db,
        sqlite_synchronous=args.sqlite_synchronous,
        max_frame_bytes=args.max_frame_bytes,
        shutdown_timeout=args.shutdown_timeout,
        log_level=args.log_level,
        log_format=args.log_format,
        sync=sync,
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(prog="samepage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `samepage` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from web.server import serve

        serve(settings_from_args(args))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
