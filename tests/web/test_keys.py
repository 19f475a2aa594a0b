"""Keyrings from flags: `--secret` is kid `default`, the last `--key` signs unless
`--signing-key` says otherwise, and malformed or unknown keys are refused up front."""

from __future__ import annotations

import pytest

from web.auth import AuthError, issue_token, verify_token
from web.keys import KeyConfigError, Keyring, parse_key


def test_build_and_parse() -> None:
    assert Keyring.build(None, [], None) is None
    plain = Keyring.build("s" * 32, [], None)
    assert plain is not None and plain.signing == "default"
    both = Keyring.build("s" * 32, [parse_key("k1=a=b"), ("k2", "c")], None)
    assert both is not None and both.signing == "k2" and both.keys["k1"] == "a=b"
    assert dict(both.keys) == {"k1": "a=b", "k2": "c", "default": "s" * 32}
    for bad in ["nokey", "=secret", "kid=", "x" * 65 + "=s"]:
        with pytest.raises(KeyConfigError):
            parse_key(bad)
    with pytest.raises(KeyConfigError):
        Keyring.build(None, [("k1", "a")], "k9")


def test_a_plain_secret_and_a_keyring_with_it_as_default_read_each_others_tokens() -> None:
    secret = "x" * 40
    ring = Keyring({"default": secret, "k2": "y" * 40}, "k2")
    assert verify_token(ring, issue_token(secret, "r")).room_pattern == "r"
    assert verify_token(Keyring({"k2": "y" * 40}, "k2"), issue_token(ring, "r")).admin is False
    with pytest.raises(AuthError, match="retired or unknown key"):
        verify_token(secret, issue_token(ring, "r"))
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(secret, "not.a.token")
