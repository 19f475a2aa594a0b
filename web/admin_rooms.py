"""Admin routes for rooms as a whole and for webhooks (docs/rooms.md, docs/webhooks.md):
`GET /api/admin/webhooks`, the recent deliveries the admin page shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from web.admin import require_admin
from web.params import state_of


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="milliseconds")


async def webhook_deliveries(request: Request) -> Response:
    """`GET /api/admin/webhooks`: the receivers, what is pending, drops, and the last
    deliveries (newest first: event, room, URL, attempt, outcome, status, time taken)."""
    require_admin(request)
    hooks = state_of(request).webhooks
    body: dict[str, Any] = {"enabled": hooks is not None, "urls": [], "recent": []}
    if hooks is not None:
        sender = hooks.sender
        body.update(
            urls=list(sender.settings.urls),
            pending=sender.pending,
            dropped=sender.dropped,
            recent=[{**item, "time": _iso(item["time"])} for item in sender.recent],
        )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


routes = [Route("/api/admin/webhooks", webhook_deliveries, methods=["GET"])]
