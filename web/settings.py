"""Settings: one frozen object built once from CLI flags and `SAMEPAGE_*` variables
(the flag ↔ variable rule: web/cli_env.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from sync.types import SyncSettings
from web.keys import Keyring
from web.webhooks.config import WebhookSettings


@dataclass(frozen=True)
class Settings:
    """Everything the service can be configured with."""

    host: str = "127.0.0.1"
    port: int = 8000
    db: str = "samepage.db"
    sqlite_synchronous: str = "FULL"
    # Under load, the longest a group commit waits to take more updates (seconds): more
    # is less CPU an update and more latency; 0 commits back to back. storage.sql.writer's
    # MAX_COMMIT_WINDOW_S (not imported: the CLI starts without SQLAlchemy).
    commit_window: float = 0.010
    max_frame_bytes: int = 8 * 1024 * 1024
    shutdown_timeout: float = 10.0
    log_level: str = "info"
    log_format: str = "text"
    secret: str | None = None  # enables token authentication (the key of kid `default`)
    keys: tuple[tuple[str, str], ...] = ()  # (kid, secret): more active keys (rotation)
    signing_key: str = ""  # the kid new tokens are signed with (default: the last key)
    max_token_ttl_s: int = 30 * 86400  # longer-lived tokens are refused; revocations kept so long
    open: bool = False  # allow serving without a secret on a non-loopback address
    allowed_origins: tuple[str, ...] = ()  # empty: only the page's own origin
    max_connections: int = 10_000
    redis: str = ""  # redis://host:port: join a cluster sharing rooms through Redis
    node_id: str = ""  # this node's name on the bus (default: the host name)
    workers: int = 1  # processes on this machine (needs --redis and a shared database)
    ws: str = "native"  # the WebSocket server: ours, or a uvicorn implementation's name
    ws_ping_interval: float = 20.0  # silent sockets are pinged, dropped after 2-3 (0: off)
    reuse_port: bool = False  # bind with SO_REUSEPORT (set for the workers' children)
    unready_after_failed_commits: int = 3  # /readyz 503 after this many in a row
    text_timelines: int = 8  # rooms whose text timeline is kept in memory; 0 = none
    access_log: bool = False  # one log line per HTTP request (samepage.access)
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For is believed
    migrate: bool = True  # migrate the schema on start (False: refuse an old one)
    sync: SyncSettings = field(default_factory=SyncSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)

    @cached_property
    def keyring(self) -> Keyring | None:
        """The active signing keys (`--secret`, `--key`); None: authentication is off."""
        return Keyring.build(self.secret, self.keys, self.signing_key or None)


def sync_settings_from(values: dict[str, Any]) -> SyncSettings:
    """Build SyncSettings from a dict holding (some of) its field names."""
    known = {f.name for f in fields(SyncSettings)}
    return SyncSettings(**{k: v for k, v in values.items() if k in known and v is not None})


def package_version() -> str:
    """The installed samepage's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("samepage")
    except PackageNotFoundError:
        return "unknown (not installed)"
