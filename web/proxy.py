"""The real client address behind a reverse proxy: `X-Forwarded-For` is believed only
from the addresses in `--forwarded-allow-ips` (uvicorn's rule, which serves the HTTP
routes; the native WebSocket server applies it here). The client is the right-most
address in the header that is not a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """`--forwarded-allow-ips`: a comma-separated list of addresses and networks, or `*`."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self.networks: list[Network] = []
        self.names: set[str] = set()  # e.g. a unix socket path, as uvicorn allows
        for item in items:
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.names.add(item)

    def trusts(self, host: str) -> bool:
        """Is `host` one of the proxies we believe?"""
        if self.everyone or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client(self, host: str, headers: Mapping[str, str]) -> str:
        """The client's address, given the socket's peer `host` and the request headers."""
        forwarded = headers.get("x-forwarded-for")
        if not forwarded or not self.trusts(host):
            return host
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else host
