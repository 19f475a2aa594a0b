"""Flags, variables and settings agree under one rule (`--flag-name` ↔
`SAMEPAGE_FLAG_NAME`): each flag of `serve` names its variable in the help, the
variable reaches the setting the flag sets, and every setting has a flag."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from sync.types import SyncSettings
from web.auth import parse_ttl
from web.cli import build_parser, settings_from_args
from web.cli_checks import duration, window_seconds
from web.cli_env import CONNECTION_FLAGS, env_name
from web.keys import parse_key
from web.settings import Settings

NOT_FLAGS = {"sync", "reuse_port"}  # nested / set by --workers for its children
WEBHOOK_FILE = '[webhooks]\nurls = ["http://c.example"]\n'
# Flags whose setting has another name or form: dest → (the setting, the flag's value
# as that setting holds it).
CONVERTED: dict[str, tuple[Any, Any]] = {
    "no_migrate": (lambda s: s.migrate, lambda value: not value),
    "max_token_ttl": (lambda s: s.max_token_ttl_s, parse_ttl),
    "allowed_origins": (lambda s: s.allowed_origins, lambda v: tuple(o.rstrip("/") for o in v)),
    "webhooks": (lambda s: s.webhooks.urls, tuple),
    "webhook_secret": (lambda s: s.webhooks.secret, str),
    "webhook_config": (lambda s: s.webhooks.urls, lambda _: ("http://c.example",)),
    "keys": (lambda s: s.keys, lambda v: tuple(parse_key(k) for k in v)),
}


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def options(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.help != argparse.SUPPRESS and longs[0] != "--help":
            found.append((max(longs, key=len), action))
    return found


def sample(action: argparse.Action) -> tuple[str, Any]:
    """A value for the flag's variable other than its default, and what it parses to."""
    if action.nargs == 0:
        return "yes", True
    if action.choices:
        choice = next(c for c in action.choices if c != action.default)
        return str(choice), choice
    if action.dest == "keys":  # --key KID=SECRET
        return "k1=first-secret, k2=second=secret", ("k1=first-secret", "k2=second=secret")
    if isinstance(action, argparse._AppendAction):
        return "http://a.example, http://b.example/", ("http://a.example", "http://b.example/")
    if action.type is int:
        return str(action.default + 7), action.default + 7
    if action.type is float:
        return str(action.default + 0.5), action.default + 0.5
    if action.type is window_seconds:
        return "0.25", 0.25
    if action.type is duration:
        return "2h", "2h"
    return "sample-value", "sample-value"


def test_every_serve_flag_names_its_variable_in_the_help() -> None:
    serve = subparsers(build_parser())["serve"]
    text = " ".join(serve.format_help().split())
    for flag, action in options(serve):
        assert getattr(action, "env", None) == env_name(flag), flag
        assert f"env {env_name(flag)})" in text, flag
        assert action.help, f"{flag} has no help"


def test_server_and_connection_flags_of_every_command_read_their_variable() -> None:
    commands = subparsers(build_parser())
    shared = CONNECTION_FLAGS | {flag for flag, _ in options(commands["serve"])}
    for command, parser in commands.items():
        for flag, action in options(parser):
            wanted = env_name(flag) if flag in shared else None
            assert getattr(action, "env", None) == wanted, (command, flag)


def test_every_setting_has_a_flag_and_every_flag_a_setting() -> None:
    serve = subparsers(build_parser())["serve"]
    renamed = {"no_migrate": "migrate", "max_token_ttl": "max_token_ttl_s"}
    dests = {renamed.get(a.dest, a.dest) for _, a in options(serve)}
    settings = {f.name for f in fields(Settings)} - NOT_FLAGS
    assert settings <= dests, f"settings without a flag: {settings - dests}"
    nested = {f.name for f in fields(SyncSettings)} | {"webhook_secret", "webhook_config"}
    assert dests <= settings | nested, f"flags without a setting: {dests - settings - nested}"


def reached(settings: Settings, dest: str, flag_value: Any) -> bool:
    """Does the setting the flag with this dest sets hold `flag_value`?"""
    if dest in CONVERTED:
        get, convert = CONVERTED[dest]
        return bool(get(settings) == convert(flag_value))
    holder = settings if hasattr(settings, dest) else settings.sync
    return bool(getattr(holder, dest) == flag_value)


@pytest.mark.parametrize("flag", [flag for flag, _ in options(subparsers(build_parser())["serve"])])
def test_the_variable_reaches_the_setting(
    flag: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    action = dict(options(subparsers(build_parser())["serve"]))[flag]
    raw, expected = sample(action)
    if action.dest == "webhook_config":
        (tmp_path / "hooks.toml").write_text(WEBHOOK_FILE)
        raw = expected = str(tmp_path / "hooks.toml")
    monkeypatch.setenv(env_name(flag), raw)
    settings = settings_from_args(build_parser().parse_args(["serve"]))
    assert reached(settings, action.dest, expected), (flag, raw)
    monkeypatch.delenv(env_name(flag))
    if action.nargs == 0:
        argv = [flag]
    elif isinstance(action, argparse._AppendAction):
        argv = [part for value in raw.split(",") for part in (flag, value.strip())]
    else:
        argv = [flag, raw]
    flagged = settings_from_args(build_parser().parse_args(["serve", *argv]))
    assert reached(flagged, action.dest, expected), (flag, argv)


def test_the_old_origins_variable_still_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAMEPAGE_ALLOWED_ORIGINS", "https://old.example")
    settings = settings_from_args(build_parser().parse_args(["serve"]))
    assert settings.allowed_origins == ("https://old.example",)
    assert (
        "SAMEPAGE_ALLOWED_ORIGINS is now called SAMEPAGE_ALLOWED_ORIGIN" in capsys.readouterr().err
    )
