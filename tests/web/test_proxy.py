"""Whose `X-Forwarded-For` is believed (web/proxy.py): only a trusted proxy's, and the
client is the right-most hop that is not a trusted proxy (uvicorn's rule)."""

from __future__ import annotations

from web.proxy import TrustedProxies


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    spoofed = {"x-forwarded-for": "1.2.3.4"}
    assert proxies.client("203.0.113.9", spoofed) == "203.0.113.9"  # not a proxy: ignored
    assert proxies.client("127.0.0.1", spoofed) == "1.2.3.4"
    assert proxies.client("127.0.0.1", {}) == "127.0.0.1"
    # a client that sends its own header through the proxy cannot pick its address
    chain = {"x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.1.2.3"}
    assert proxies.client("127.0.0.1", chain) == "198.51.100.7"
    assert proxies.client("10.0.0.1", {"x-forwarded-for": "10.0.0.2"}) == "10.0.0.2"


def test_everyone_and_ipv6() -> None:
    assert TrustedProxies("*").client("203.0.113.9", {"x-forwarded-for": "2001:db8::1"}) == (
        "2001:db8::1"
    )
    assert TrustedProxies("::1").client("::1", {"x-forwarded-for": "192.0.2.1"}) == "192.0.2.1"
    assert not TrustedProxies("").trusts("127.0.0.1")
