"""Signing keys by id (`kid`), for key rotation (docs/security.md): several secrets are
active at once; a token names the key that signed it in its header, and a token whose
key is not (or no longer) active is refused."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_KID = "default"  # the key of `--secret` (and of tokens without a `kid`)


class KeyConfigError(ValueError):
    """A key specification that cannot be used (shown to the operator as is)."""


@dataclass(frozen=True)
class Keyring:
    """The active secrets by kid, and the kid new tokens are signed with."""

    keys: Mapping[str, str] = field(default_factory=dict)
    signing: str = DEFAULT_KID

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("no signing key")
        if self.signing not in self.keys:
            raise KeyConfigError(f"--signing-key {self.signing!r} is not one of the --key ids")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @classmethod
    def of(cls, secret: str | Keyring) -> Keyring:
        """A keyring as given, or the one key of a plain `--secret`."""
        return secret if isinstance(secret, Keyring) else cls({DEFAULT_KID: secret})

    @classmethod
    def build(
        cls, secret: str | None, keys: Iterable[tuple[str, str]], signing: str | None
    ) -> Keyring | None:
        """From `--secret` (kid `default`), `--key KID=SECRET` and `--signing-key KID`
        (default: the last `--key`, else the secret); None when no key is configured."""
        found = dict(keys)
        if secret:
            found.setdefault(DEFAULT_KID, secret)
        if not found:
            return None
        last = list(dict(keys))[-1] if dict(keys) else DEFAULT_KID
        return cls(found, signing or last)

    @property
    def signing_secret(self) -> str:
        """The secret new tokens are signed with."""
        return self.keys[self.signing]


def parse_key(text: str) -> tuple[str, str]:
    """`KID=SECRET` → (kid, secret); KeyConfigError when malformed."""
    kid, sep, secret = text.partition("=")
    kid = kid.strip()
    if not sep or not kid or not secret or len(kid) > 64:
        raise KeyConfigError(f"a key is KID=SECRET (a kid of 1-64 characters), not {text[:12]!r}…")
    return kid, secret


def keys_of(args: Any) -> list[tuple[str, str]]:
    """The `--key KID=SECRET` values a command was given (from the flag, or from
    `SAMEPAGE_KEY=kid1=secret1,kid2=secret2` by the CLI's flag/variable rule; a command
    without the flag reads the variable itself); KeyConfigError when malformed."""
    given = getattr(args, "keys", None)
    if given is None:
        given = [p for p in os.environ.get("SAMEPAGE_KEY", "").split(",") if p.strip()]
    return [k if isinstance(k, tuple) else parse_key(k) for k in given]


def add_key_flags(parser: Any) -> None:
    """`--key KID=SECRET` (repeatable) and `--signing-key KID`, beside `--secret`."""
    parser.add_argument(
        "--key",
        dest="keys",
        action="append",
        default=None,
        metavar="KID=SECRET",
        help="an active signing key (repeatable; in the variable: kid1=s1,kid2=s2)",
    )
    parser.add_argument(
        "--signing-key",
        default=None,
        metavar="KID",
        help="the key new tokens are signed with (default: the last --key)",
    )


def keyring_from_args(args: Any) -> Keyring | None:
    """The keyring a command was given: `--secret`, `--key`, `--signing-key` (or their
    variables); None when no key at all; KeyConfigError when unusable."""
    signing = getattr(args, "signing_key", None) or os.environ.get("SAMEPAGE_SIGNING_KEY")
    return Keyring.build(getattr(args, "secret", None), keys_of(args), signing or None)
