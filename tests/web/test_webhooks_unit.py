"""Webhooks' pure parts: when room.changed is due, the signature, the backoff, the
config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from web.webhooks.config import WebhookSettings, load_config, signature, verify
from web.webhooks.debounce import Debouncer
from web.webhooks.delivery import WebhookSender


def test_changed_is_due_after_a_quiet_spell_at_most_every_interval() -> None:
    d = Debouncer(quiet=2, max_wait=10, interval=10)
    assert d.change("r", 0.0, 1, "ana") == 2.0
    assert d.change("r", 1.5, 2, "bo") == 3.5  # each change pushes it back...
    assert d.take("r", 3.0) is None
    window = d.take("r", 3.5)
    assert window is not None and window.seq == 2 and window.authors == {"ana", "bo"}
    # the next one no sooner than 10 s after that report, however quiet
    assert d.change("r", 4.0, 3, "ana") == 13.5
    assert d.take("r", 13.4) is None and d.take("r", 13.5) is not None


def test_steady_typing_is_reported_every_max_wait() -> None:
    d = Debouncer(quiet=2, max_wait=10, interval=10)
    due = 0.0
    for tick in range(0, 100):  # a change every 0.5 s, never quiet for 2 s
        due = d.change("r", tick * 0.5, tick + 1, None)
    assert due == 10.0  # ...so the window is due at its max wait
    window = d.take("r", 10.0)
    assert window is not None and window.remote and window.authors == set()


def test_rooms_are_debounced_apart_and_put_back_waits() -> None:
    d = Debouncer(quiet=1, max_wait=5, interval=5)
    d.change("a", 0.0, 1, "x")
    d.change("b", 0.5, 1, "y")
    assert d.due("a") == 1.0 and d.due("b") == 1.5
    window = d.take("a", 1.0)
    assert window is not None
    assert d.put_back("a", window, not_before=4.0) == 4.0  # another node reported at -1
    d.forget("b")
    assert d.due("b") == float("inf")


def test_signature_is_checked_and_old_ones_are_refused() -> None:
    body = b'{"type":"room.changed"}'
    header = signature("s3cret", body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify("s3cret", header, body, now=1_700_000_100)
    assert not verify("other", header, body, now=1_700_000_100)
    assert not verify("s3cret", header, body + b" ", now=1_700_000_100)
    assert not verify("s3cret", header, body, now=1_700_000_000 + 301)  # a replay
    assert not verify("s3cret", "v1=abc", body, now=1_700_000_000)


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    sender = WebhookSender(WebhookSettings(urls=("http://x",), retry_base=1, retry_cap=8))
    assert [sender.backoff(n, lambda: 1.0) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert [sender.backoff(n, lambda: 0.0) for n in range(1, 5)] == [0.5, 1, 2, 4]


def test_config_file_adds_urls_and_sets_timings(tmp_path: Path) -> None:
    path = tmp_path / "hooks.toml"
    path.write_text(
        '[webhooks]\nurls = ["https://b.example/h"]\nsecret = "k"\nquiet = 0.5\nattempts = 3\n'
    )
    settings = load_config(str(path), WebhookSettings(urls=("http://a.example/h",)))
    assert settings.urls == ("http://a.example/h", "https://b.example/h")
    assert (settings.secret, settings.quiet, settings.attempts) == ("k", 0.5, 3)
    path.write_text('[webhooks]\nurls = ["ftp://nope"]\n')
    with pytest.raises(ValueError, match="http"):
        load_config(str(path), WebhookSettings())
    path.write_text("[webhooks]\nspeed = 3\n")
    with pytest.raises(ValueError, match="unknown"):
        load_config(str(path), WebhookSettings())
