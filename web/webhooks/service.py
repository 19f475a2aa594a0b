"""Webhooks as the app runs them: built and started by the lifespan when `--webhook`
is given, closed after the rooms (so the clients' departures and the last changes
are reported) and before the store."""

from __future__ import annotations

from dataclasses import dataclass

from sync.manager import RoomManager
from web.webhooks.claims import Claims, LocalClaims, RedisClaims
from web.webhooks.config import WebhookSettings
from web.webhooks.delivery import Outcome, WebhookSender
from web.webhooks.events import WebhookEvents


@dataclass
class Webhooks:
    """The running parts: the events listener, its sender and its claims."""

    events: WebhookEvents
    sender: WebhookSender
    claims: Claims

    async def aclose(self) -> None:
        """Report what is due, send what is queued (briefly), stop (idempotent)."""
        self.events.manager.remove_listener(self.events)
        await self.events.aclose()
        await self.sender.aclose()
        await self.claims.aclose()


async def start_webhooks(
    settings: WebhookSettings,
    manager: RoomManager,
    node: str,
    redis: str = "",
    on_outcome: Outcome | None = None,
) -> Webhooks | None:
    """Started webhooks listening to every room, or None without receivers. With
    `redis` (a cluster) each `room.changed` is claimed through it."""
    if not settings.enabled:
        return None
    sender = WebhookSender(settings, on_outcome)
    await sender.start()
    claims: Claims = RedisClaims(redis) if redis else LocalClaims()
    events = WebhookEvents(sender, claims, manager, node, cluster=bool(redis))
    manager.add_listener(events)
    return Webhooks(events, sender, claims)
