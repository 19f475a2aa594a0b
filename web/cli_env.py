"""One rule for flags and environment variables: `--flag-name` reads
`SAMEPAGE_FLAG_NAME`. Every flag of `serve` reads its variable, in every command that
has it (`--db`, `--secret`, `--max-token-ttl` …), and so do `--url` and `--token`;
per-run options (`--limit`, `--at`, `--ttl` …) are flags only. Help shows each flag's default and
variable. A variable's value is converted (and refused) like the flag's, and only when
its command runs: `SAMEPAGE_PORT=abc` stops `serve` with one line, not `token`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

PREFIX = "SAMEPAGE_"
CONNECTION_FLAGS = {"--db", "--url", "--token", "--secret"}
ENV_COMMANDS = {"serve"}  # commands whose every flag reads its variable
# Older names still read (with a warning): new name → old name.
LEGACY = {"SAMEPAGE_ALLOWED_ORIGIN": "SAMEPAGE_ALLOWED_ORIGINS"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def env_name(flag: str) -> str:
    """`--allowed-origin` → `SAMEPAGE_ALLOWED_ORIGIN`."""
    return PREFIX + flag.lstrip("-").replace("-", "_").upper()


class BadEnv:
    """A variable's value the flag cannot take (reported when its command runs)."""

    def __init__(self, name: str, value: str, why: str) -> None:
        self.name, self.value, self.why = name, value, why

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}: {self.why}"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors name the variable a bad value came from."""

    def error(self, message: str) -> NoReturn:
        """`samepage CMD: error: …` on one line (naming the variable a value came from)."""
        for action in self._actions:
            env = getattr(action, "env", None)
            flag = _long_flag(action)
            if env and flag and f"argument {flag}" in message and env in os.environ:
                message += f" (from {env})"
        # one line, not the whole usage: the error is what a user needs to read
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows `(default: X; env SAMEPAGE_Y)` after each flag's help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or text == argparse.SUPPRESS:
            return text
        notes = []
        shown = getattr(action, "builtin_default", action.default)
        if shown not in (None, False, "", [], argparse.SUPPRESS) and "default" not in text:
            notes.append("default: " + str(shown).replace("%", "%%"))
        env = getattr(action, "env", None)
        if env:
            notes.append(f"env {env}")
        return f"{text} ({'; '.join(notes)})" if notes else text


def env_value(name: str) -> str | None:
    """The variable's value (or its legacy name's), None when unset."""
    value = os.environ.get(name)
    old = LEGACY.get(name)
    if value is None and old is not None and (value := os.environ.get(old)) is not None:
        print(f"warning: {old} is now called {name}", file=sys.stderr)
    return value


def _long_flag(action: argparse.Action) -> str | None:
    longs = [o for o in action.option_strings if o.startswith("--")]
    return max(longs, key=len) if longs else None


def _from_env(action: argparse.Action, env: str, raw: str) -> Any:
    """The flag's default given the variable's text (argparse converts a string default
    with the flag's `type` when the command runs)."""
    if action.nargs == 0:  # a switch such as --open
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        return BadEnv(env, raw, "expected 1/0, true/false, yes/no or on/off")
    if isinstance(action, argparse._AppendAction):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def apply_env(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand's flags their variables, defaults and help notes."""
    for group in parser._actions:
        if not isinstance(group, argparse._SubParsersAction):
            continue
        shared = set(CONNECTION_FLAGS)  # and every flag of the server, wherever it appears
        for command in ENV_COMMANDS:
            shared |= {f for a in group.choices[command]._actions if (f := _long_flag(a))}
        for command, sub in group.choices.items():
            sub.formatter_class = HelpFormatter
            for action in sub._actions:
                flag = _long_flag(action)
                if flag is None or action.help == argparse.SUPPRESS or flag == "--help":
                    continue
                action.builtin_default = action.default
                if action.metavar is None and action.nargs != 0 and not action.choices:
                    action.metavar = flag[2:].upper().replace("-", "_")
                if command not in ENV_COMMANDS and flag not in shared:
                    continue
                env = env_name(flag)
                action.env = env
                raw = env_value(env)
                if raw is not None:
                    action.default = _from_env(action, env, raw)


def check_env(args: argparse.Namespace) -> str | None:
    """The first variable whose value its flag cannot take, as an error line."""
    for value in vars(args).values():
        if isinstance(value, BadEnv):
            return str(value)
    return None
