"""OpenAPI paths of everything but the rooms: operations, admin, pages, this
description."""

from __future__ import annotations

from typing import Any

from web.openapi.base import ANY_OBJECT, HTML, array, json_body, obj, ok, op


def service_paths() -> dict[str, Any]:
    """Health, metrics, admin, pages and the description itself."""
    return {
        "/healthz": {
            "get": op(
                "The process is alive",
                "operations",
                {"200": ok(ANY_OBJECT, "Alive")},
                errors="",
                room=False,
            )
        },
        "/readyz": {
            "get": op(
                "Ready: the database answers and takes writes",
                "operations",
                {"200": ok(ANY_OBJECT, "Ready"), "503": ok(ANY_OBJECT, "Not ready")},
                errors="",
                room=False,
            )
        },
        "/metrics": {
            "get": op(
                "Prometheus metrics",
                "operations",
                {"200": ok({"type": "string"}, "Text format", "text/plain")},
                errors="",
                room=False,
            )
        },
        "/api/admin/stats": {
            "get": op(
                "Connections, rooms and presence",
                "admin",
                {"200": ok(ANY_OBJECT, "Stats")},
                errors="401 403",
                room=False,
            )
        },
        "/api/admin/compact": {
            "post": op(
                "Fold old updates into checkpoints (what `samepage compact` asks a running server)",
                "admin",
                {
                    "200": ok(
                        obj("rooms", rooms=array(ANY_OBJECT)), "What each room's compaction did"
                    )
                },
                body=json_body(
                    obj(
                        "",
                        rooms=array({"type": "string"}),
                        keep_every={"type": "integer", "minimum": 1},
                        older_than={"type": "string", "examples": ["30d"]},
                    )
                ),
                errors="400 401 403 413",
                room=False,
            )
        },
        "/api/admin/revoke": {
            "post": op(
                "Revoke tokens by jti, user or room",
                "admin",
                {"200": ok(ANY_OBJECT, "Revoked")},
                body=json_body(
                    obj(
                        "",
                        jti={"type": "string"},
                        user={"type": "string"},
                        room={"type": "string"},
                        expires_at={"type": "number"},
                    )
                ),
                errors="400 401 403 413",
                room=False,
            )
        },
        "/api/admin/grants": {
            "post": op(
                "Set what a user may do in a room",
                "admin",
                {"200": ok(ANY_OBJECT, "Set")},
                body=json_body(
                    obj(
                        "user room perm",
                        user={"type": "string"},
                        room={"type": "string"},
                        perm={"enum": ["read", "write"]},
                    )
                ),
                errors="400 401 403 413",
                room=False,
            )
        },
        "/api/admin/access": {
            "get": op(
                "Revocations in force and stored grants",
                "admin",
                {"200": ok(ANY_OBJECT, "Rules")},
                errors="401 403",
                room=False,
            )
        },
        "/api/admin/cluster": {
            "get": op(
                "The cluster's nodes and the rooms each holds",
                "admin",
                {"200": ok(ANY_OBJECT, "Nodes")},
                errors="401 403",
                room=False,
            )
        },
        "/api/admin/webhooks": {
            "get": op(
                "Webhook receivers and recent deliveries",
                "admin",
                {"200": ok(ANY_OBJECT, "Deliveries")},
                errors="401 403",
                room=False,
            )
        },
        "/openapi.json": {
            "get": op(
                "This description",
                "meta",
                {"200": ok(ANY_OBJECT, "OpenAPI 3.1")},
                errors="",
                room=False,
            )
        },
        "/docs": {
            "get": op(
                "This description as a page (works offline)",
                "meta",
                {"200": ok(HTML, "HTML", "text/html")},
                errors="",
                room=False,
            )
        },
        "/": {
            "get": op(
                "The page: rooms and a field to open one",
                "pages",
                {"200": ok(HTML, "HTML", "text/html")},
                errors="",
                room=False,
            )
        },
        "/r/{room}": {
            "get": op(
                "The editor",
                "pages",
                {
                    "200": ok(HTML, "HTML", "text/html"),
                    "404": ok(HTML, "Not a room name", "text/html"),
                },
                errors="",
            )
        },
        "/embed/{room}": {
            "get": op(
                "The editor for an iframe",
                "pages",
                {
                    "200": ok(HTML, "HTML", "text/html"),
                    "404": ok(HTML, "Not a room name", "text/html"),
                },
                errors="",
            )
        },
        "/admin": {
            "get": op(
                "The admin page",
                "pages",
                {"200": ok(HTML, "HTML", "text/html")},
                errors="401 403",
                room=False,
            )
        },
        "/sw.js": {
            "get": op(
                "The page's service worker",
                "pages",
                {"200": ok({"type": "string"}, "JavaScript", "text/javascript")},
                errors="",
                room=False,
            )
        },
    }
