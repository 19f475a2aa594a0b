"""`/readyz` on a clustered node (PostgreSQL through a proxy the test can stall, its own
Redis the test can stop): Redis down leaves the node ready (200, `degraded`: it still
serves its clients; a 503 would drain every node at once); the database unreachable
makes it unready (503) until it answers again."""

from __future__ import annotations

from pathlib import Path

import httpx
from pycrdt import Doc, Text

from sync import protocol
from tests.cluster.redis_server import RedisServer
from tests.helpers.clients import eventually, raw_client
from tests.helpers.server import ServerProcess
from tests.helpers.services import PG_PORT, fresh_pg_database
from tests.interop.proxy import StallingProxy


async def readiness(http: httpx.AsyncClient) -> tuple[int, str]:
    """(status code, body status) of `/readyz`."""
    response = await http.get("/readyz", timeout=10)
    return response.status_code, response.json()["status"]


async def test_redis_down_is_degraded_database_down_is_unready(tmp_path: Path) -> None:
    async with fresh_pg_database() as url:
        proxy = StallingProxy(PG_PORT)
        await proxy.start()
        proxied = url.replace(f":{PG_PORT}/", f":{proxy.port}/")
        try:
            with RedisServer() as redis:
                args = ["--redis", redis.url, "--node-id", "readiness"]
                node = ServerProcess(proxied, extra_args=args, log_path=tmp_path / "log")
                await _run(node, redis, proxy)
        finally:
            await proxy.aclose()


async def _run(node: ServerProcess, redis: RedisServer, proxy: StallingProxy) -> None:
    import asyncio

    await asyncio.to_thread(node.start)
    try:
        async with httpx.AsyncClient(base_url=node.http) as http:
            assert await readiness(http) == (200, "ready")
            redis.stop()
            assert await readiness(http) == (200, "degraded")
            async with raw_client(node.ws, "served") as client:  # and it does serve
                doc: Doc[int] = Doc()
                doc.get("content", type=Text).insert(0, "Redis is down, I am not")
                await client.send(protocol.encode_update(doc.get_update()))
                await eventually(lambda: bool(client.of_type(protocol.SyncUpdate)), what="echo")
            proxy.stall()  # PostgreSQL stops answering
            response = await http.get("/readyz", timeout=10)
            assert response.status_code == 503, response.text
            body = response.json()
            assert body["status"] == "unavailable" and body["checks"]["database"]["ok"] is False
            proxy.resume()

            async def ready_again() -> bool:
                return (await readiness(http))[0] == 200

            await eventually(ready_again, 15, "/readyz 200 once the database answers")
            assert await readiness(http) == (200, "degraded")  # Redis is still down
    finally:
        await asyncio.to_thread(node.stop)
