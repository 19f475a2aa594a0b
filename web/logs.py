"""Logging setup: plain text for people, `--log-format json` for machines."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

# `key=%s` in a format string: that argument is field `key` (`--log-format json`).
_FIELD = re.compile(r"(?:(\w+)=)?%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[a-zA-Z%]")
_TOKEN = re.compile(r"((?:token|access_token)=)[^&\s\"']+|(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)


def redact(text: str) -> str:
    """Replace tokens in query strings and Authorization headers."""
    return _TOKEN.sub(lambda m: (m.group(1) or m.group(2)) + "[redacted]", text)


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The `key=%s` arguments of a record's format string by key (`room`, `peer`,
    `code`, `duration`...), plus any `extra={"fields": {...}}`; strings redacted."""
    found: dict[str, object] = {}
    args = record.args
    if isinstance(record.msg, str) and isinstance(args, tuple) and args:
        specs = [m for m in _FIELD.finditer(record.msg) if not m.group(0).endswith("%%")]
        if len(specs) == len(args):
            for match, value in zip(specs, args, strict=True):
                if match.group(1):
                    found[match.group(1)] = value
    extra = getattr(record, "fields", None)
    if isinstance(extra, dict):
        found.update(extra)
    return {
        k: redact(v) if isinstance(v, str) else v if isinstance(v, int | float) else str(v)
        for k, v in found.items()
    }


class RedactTokens(logging.Filter):
    """Never let a token reach a log line (uvicorn logs request paths with queries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redacted (its fields taken first, redacted too)."""
        record.samepage_fields = fields_of(record)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        body: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "samepage_fields", None)
        if fields is None:
            fields = fields_of(record)
        for key, value in fields.items():
            body.setdefault(key, value)
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body)


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Configure the root logger once."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
