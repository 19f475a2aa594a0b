"""Probes: `GET /healthz` (the process answers) and `GET /readyz` (it can serve: the
database answers and takes writes, and it is not shutting down; with `--redis`, Redis
down is reported as `degraded`, still ready)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.types import StoreError
from web.state import AppState

PROBE_TIMEOUT_S = 2.0


async def healthz(_request: Request) -> Response:
    """`GET /healthz`: the process is alive."""
    return JSONResponse({"status": "ok"})


async def _within(state: AppState, probe: Coroutine[Any, Any, None]) -> None:
    """Run `probe` for at most PROBE_TIMEOUT_S (TimeoutError after). A query to an
    unreachable database does not end when cancelled (asyncpg waits for the server to
    confirm the cancel): the probe is left to finish in the background, and the
    readiness answer does not wait for it."""
    task = asyncio.ensure_future(probe)
    done, _pending = await asyncio.wait({task}, timeout=PROBE_TIMEOUT_S)
    if not done:
        task.cancel()
        state.background.add(task)
        task.add_done_callback(state.background.discard)
        raise TimeoutError(f"no answer within {PROBE_TIMEOUT_S:g} s")
    task.result()


async def _check_store(state: AppState) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await _within(state, state.store.ping())
    except (StoreError, TimeoutError, OSError) as exc:
        return {"ok": False, "detail": str(exc) or type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


async def _check_writes(state: AppState) -> dict[str, Any]:
    """Unready after `unready_after_failed_commits` failed commits in a row (a full disk,
    a read-only database), until one succeeds: a client's, or the write this probe
    tries then, so a server nobody writes to any more still comes back."""
    failures, cause = state.store.failed_commits
    if failures < state.settings.unready_after_failed_commits:
        return {"ok": True}
    try:
        await _within(state, state.store.ping(write=True))
    except (StoreError, TimeoutError, OSError):
        return {"ok": False, "detail": f"{failures} consecutive commits failed: {cause}"}
    return {"ok": True}


async def _check_redis(url: str) -> dict[str, Any]:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    started = time.perf_counter()
    client = Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_S)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await client.ping()
    except (RedisError, TimeoutError, OSError) as exc:
        return {"ok": False, "detail": str(exc) or type(exc).__name__}
    finally:
        await client.aclose()
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


async def readyz(request: Request) -> Response:
    """`GET /readyz`: 200 when the database answers and takes writes; 503 when not, and
    while shutting down (so a load balancer stops sending new clients). Redis down is
    200 `degraded`: the node still serves its own clients (and catches up from the
    database when the bus returns); failing every node at once would serve no one."""
    state: AppState | None = getattr(request.app.state, "samepage", None)
    if state is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    if state.shutting_down:
        return JSONResponse({"status": "shutting_down"}, status_code=503)
    checks = {"database": await _check_store(state), "writes": await _check_writes(state)}
    ready = all(check["ok"] for check in checks.values())
    status = "ready" if ready else "unavailable"
    if state.settings.redis:
        checks["redis"] = await _check_redis(state.settings.redis)
        if ready and not checks["redis"]["ok"]:
            status = "degraded"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
