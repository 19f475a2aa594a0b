"""What `samepage serve` makes of an environment and argv, as deployment files give
them (Dockerfile ENV, compose `environment:`, systemd `Environment=`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from unittest import mock

from web.cli import build_parser, settings_from_args
from web.settings import Settings

# compose / shell interpolation: ${NAME}, ${NAME:-default}, ${NAME:?message}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def interpolate(value: str) -> str:
    """Fill `${VAR...}` with a sample value (`sample-var`), as an operator would."""
    return _INTERPOLATION.sub(lambda m: f"sample-{m.group(1).lower()}", value)


@contextmanager
def only_env(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ without any SAMEPAGE_* variable of this process, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAMEPAGE_")}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        yield


def serve_settings(env: Mapping[str, str], argv: list[str] | None = None) -> Settings:
    """The Settings `samepage ARGV` (default `serve`) builds under `env`."""
    with only_env(env):
        args = build_parser().parse_args(argv or ["serve"])
        assert args.command == "serve", args.command
        return settings_from_args(args)


def _other(value: str) -> str:
    """A different value of the same kind (to see whether the CLI reads a variable)."""
    if value.lstrip("-").replace(".", "", 1).isdigit():
        return str(float(value) + 1) if "." in value else str(int(value) + 1)
    if value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
        return "0" if value.lower() in {"1", "true", "yes", "on"} else "1"
    return value + "x"


def assert_cli_reads(env: Mapping[str, str]) -> None:
    """Every SAMEPAGE_* variable in `env` is one the CLI reads: two values of it give
    two different settings (a misspelt or unknown name changes nothing)."""
    for name, value in env.items():
        if name.startswith("SAMEPAGE_"):
            value = interpolate(value)
            first = serve_settings({name: value})
            assert first != serve_settings({name: _other(value)}), (
                f"{name}={value}: samepage serve does not read it"
            )
