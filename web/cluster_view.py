"""The admin's cluster view: every node and the rooms it holds (`GET /api/admin/cluster`).

With `--redis`, each node writes what it holds to `{prefix}:holding:{bus node id}` every
`interval_s` (a key with a TTL of three intervals, so a node that stopped drops out of
the view) and the view reads every node's key. Without it, the view is this node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.manager import RoomManager
from web.admin import require_admin

log = logging.getLogger("samepage.cluster")
MAX_ROOMS = 500  # rooms listed per node (most connections first); the count is exact
PREFIX = "samepage"  # the bus's key prefix (sync.bus_redis.RedisBus)


class ClusterView:
    """What this node holds, published for the others, and everyone's, read back."""

    def __init__(
        self,
        manager: RoomManager,
        connections: Callable[[], int],
        *,
        name: str,
        node_id: str,
        redis_url: str = "",
        interval_s: float = 2.0,
    ) -> None:
        self.manager = manager
        self.connections = connections
        self.name = name
        self.node_id = node_id
        self.interval_s = interval_s
        self.started = time.time()
        self._redis: Redis | None = Redis.from_url(redis_url) if redis_url else None
        self._task: asyncio.Task[None] | None = None

    @property
    def _key(self) -> str:
        return f"{PREFIX}:holding:{self.node_id}"

    def local(self) -> dict[str, Any]:
        """This node: its name, connections, and the rooms it holds."""
        rooms = sorted(
            ((name, len(room.subscribers)) for name, room in self.manager.rooms.items()),
            key=lambda item: (-item[1], item[0]),
        )
        return {
            "node": self.name,
            "id": self.node_id,
            "started": self.started,
            "seen": time.time(),
            "connections": self.connections(),
            "rooms_held": len(rooms),
            "rooms": [{"name": n, "connections": c} for n, c in rooms[:MAX_ROOMS]],
        }

    async def start(self) -> None:
        """Start publishing (cluster only)."""
        if self._redis is not None:
            self._task = asyncio.get_running_loop().create_task(self._publish_loop())

    async def aclose(self) -> None:
        """Stop publishing and remove this node from the view (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        redis, self._redis = self._redis, None
        if redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await redis.delete(self._key)
            with contextlib.suppress(RedisError, OSError):
                await redis.aclose()

    async def nodes(self) -> list[dict[str, Any]]:
        """Every node that published within its TTL (this one first), or this one."""
        here = {**self.local(), "this": True}
        if self._redis is None:
            return [here]
        try:
            keys = [key async for key in self._redis.scan_iter(match=f"{PREFIX}:holding:*")]
            values = await self._redis.mget(keys) if keys else []
        except (RedisError, OSError) as exc:
            log.warning("cluster view: cannot read Redis: %r", exc)
            return [{**here, "error": "Redis unreachable: other nodes unknown"}]
        others = []
        for value in values:
            try:
                node = json.loads(value) if value else None
            except ValueError:
                continue
            if isinstance(node, dict) and node.get("id") != self.node_id:
                others.append({**node, "this": False})
        return [here, *sorted(others, key=lambda n: str(n.get("node")))]

    async def _publish_loop(self) -> None:
        assert self._redis is not None
        while True:
            try:
                ttl_ms = int(self.interval_s * 3000)
                await self._redis.set(self._key, json.dumps(self.local()), px=ttl_ms)
            except (RedisError, OSError) as exc:
                log.debug("cluster view: publishing failed: %r", exc)
            await asyncio.sleep(self.interval_s)


async def admin_cluster(request: Request) -> Response:
    """`GET /api/admin/cluster`: the nodes and the rooms each holds (admin token)."""
    require_admin(request)
    view: ClusterView = request.app.state.cluster_view
    return JSONResponse({"nodes": await view.nodes()}, headers={"Cache-Control": "no-store"})


routes = [Route("/api/admin/cluster", admin_cluster, methods=["GET"])]


async def start_cluster_view(
    redis_url: str, manager: RoomManager, connections: Callable[[], int], link: Any
) -> ClusterView:
    """The started view: named as on the bus (`link`: the ClusterLink), or this host."""
    from web.cluster import default_node_id

    bus = getattr(link, "bus", None)
    name = str(getattr(bus, "name", "") or default_node_id())
    view = ClusterView(
        manager,
        connections,
        name=name,
        node_id=str(getattr(bus, "node_id", name)),
        redis_url=redis_url if bus is not None else "",
    )
    await view.start()
    return view
