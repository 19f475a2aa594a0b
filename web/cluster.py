"""Joining a cluster: with `--redis URL` a node shares its rooms with the other nodes
through a `RedisBus`; without it, it is a single node and no bus runs at all."""

from __future__ import annotations

import logging
import socket
from typing import Any

from sync.bus_redis import RedisBus
from sync.cluster import ClusterLink
from sync.manager import RoomManager
from web.settings import Settings

log = logging.getLogger("samepage.cluster")


def default_node_id() -> str:
    """The host name: unique enough between machines; workers and restarts add suffixes."""
    return socket.gethostname() or "node"


def check_cluster(settings: Settings) -> str | None:
    """Why these settings cannot join a cluster, or None."""
    if settings.redis and settings.db.startswith("memory://"):
        return (
            "--redis needs a database every node shares (PostgreSQL, or one SQLite file "
            "on one machine): memory:// keeps each node's updates to itself"
        )
    if settings.workers < 1:
        return "--workers must be at least 1"
    return None


def make_cluster_link(settings: Settings, manager: RoomManager) -> ClusterLink | None:
    """The link to the other nodes (not started), or None for a single node."""
    if not settings.redis:
        return None
    bus = RedisBus(settings.redis, settings.node_id or default_node_id())
    return ClusterLink(manager, bus)


async def refresh_before_join(app: Any, room: str) -> None:
    """In a cluster, catch `room` up with the database before a client joins it (see
    `ClusterLink.refresh`); best effort: a failure only risks a duplicate row."""
    link = getattr(app.state, "cluster", None)
    if isinstance(link, ClusterLink):
        try:
            await link.refresh(room)
        except Exception as exc:
            log.warning("refresh of %s before a join failed: %r", room, exc)
