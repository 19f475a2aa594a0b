"""Webhook settings (`--webhook`, `--webhook-secret`, `--webhook-config FILE`) and the
payload signature: `X-Samepage-Signature: t=UNIX,v1=HEX`, where HEX is the
HMAC-SHA256 of `t.` + the body under the secret, checked against a time window."""

from __future__ import annotations

import hashlib
import hmac
import time
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

SIGNATURE_HEADER = "X-Samepage-Signature"
TOLERANCE_S = 300  # receivers refuse signatures older (or newer) than this


@dataclass(frozen=True)
class WebhookSettings:
    """Where events go and how they are sent (all in seconds)."""

    urls: tuple[str, ...] = ()
    secret: str | None = None
    quiet: float = 2.0  # room.changed: this long after the last change...
    max_wait: float = 10.0  # ...at the latest this long after the first unreported one...
    interval: float = 10.0  # ...and never sooner than this after the previous one
    timeout: float = 5.0  # one POST, all of it (connect, send, answer)
    attempts: int = 8  # a failing receiver is tried this often in all
    retry_base: float = 1.0  # backoff: min(retry_cap, retry_base * 2**n), 50-100 % of it
    retry_cap: float = 60.0
    queue: int = 1000  # deliveries waiting (or waiting to retry); beyond: dropped
    senders: int = 4  # deliveries in flight at once

    @property
    def enabled(self) -> bool:
        """Are there receivers?"""
        return bool(self.urls)


def load_config(path: str, base: WebhookSettings) -> WebhookSettings:
    """`base` with the `[webhooks]` table of a TOML file over it: `urls` are added to
    those given by flags; any other field (`secret`, `quiet`, ...) replaces it."""
    data: Any = tomllib.loads(Path(path).read_text())
    table = data.get("webhooks", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a [webhooks] table")
    known = {f.name: f for f in fields(WebhookSettings)}
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ValueError(f"{path}: unknown webhook setting {key!r}")
        if key == "urls":
            if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
                raise ValueError(f"{path}: urls must be a list of strings")
            changes["urls"] = (*base.urls, *value)
        elif key == "secret":
            changes["secret"] = str(value)
        else:
            kind = int if key in ("attempts", "queue", "senders") else float
            changes[key] = kind(value)
    return check(replace(base, **changes))


def check(settings: WebhookSettings) -> WebhookSettings:
    """Refuse URLs that are not http(s) and settings that make no sense."""
    for url in settings.urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http:// or https://: {url!r}")
    if settings.attempts < 1 or settings.queue < 1 or settings.senders < 1:
        raise ValueError("webhook attempts, queue and senders must be at least 1")
    if min(settings.quiet, settings.max_wait, settings.interval, settings.timeout) < 0:
        raise ValueError("webhook timings must not be negative")
    return settings


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (seconds since the epoch)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = TOLERANCE_S
) -> bool:
    """What a receiver does: the signature matches and its time is within `tolerance`
    seconds of `now` (a replayed request is refused once it is older)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def add_flags(serve: Any) -> None:
    """`--webhook URL` (repeatable), `--webhook-secret`, `--webhook-config FILE` (and
    SAMEPAGE_WEBHOOK=URL,URL / SAMEPAGE_WEBHOOK_SECRET / SAMEPAGE_WEBHOOK_CONFIG, read
    by the CLI's flag ↔ variable rule, web/cli_env.py)."""
    serve.add_argument(
        "--webhook",
        dest="webhooks",
        action="append",
        default=None,
        metavar="URL",
        help="POST signed JSON events to URL (repeatable; docs/webhooks.md)",
    )
    serve.add_argument(
        "--webhook-secret",
        default=None,
        help="HMAC-SHA256 key of the X-Samepage-Signature header",
    )
    serve.add_argument(
        "--webhook-config",
        default=None,
        metavar="FILE",
        help="a TOML file with a [webhooks] table (urls, secret, timings)",
    )


def settings_from(args: Any) -> WebhookSettings:
    """The webhook settings of parsed `serve` flags (ValueError when they are wrong)."""
    urls = args.webhooks or []
    settings = check(WebhookSettings(urls=tuple(urls), secret=args.webhook_secret or None))
    if args.webhook_config:
        try:
            settings = load_config(args.webhook_config, settings)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read --webhook-config: {exc}") from None
    return settings
