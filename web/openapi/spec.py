"""The OpenAPI 3.1 description of samepage's HTTP routes (served at `/openapi.json`,
readable at `/docs`). A route added to the app without a path here fails
tests/web/test_openapi.py: describe it in `rooms.py` or `service.py`, beside its
siblings."""

from __future__ import annotations

from typing import Any

from web.openapi.base import ERRORS, JSON, ROOM_PARAM, SCHEMAS, ref
from web.openapi.rooms import room_paths
from web.openapi.service import service_paths

DESCRIPTION = """Real-time collaborative documents. Each room is one Yjs document: clients
edit it over a WebSocket at `/ws/{room}` (the y-websocket protocol; not described
here: see docs/protocol.md), and these HTTP routes read and change it.

Errors are JSON `{"error": code, "detail": text}`. With `--secret`, send a token as
`Authorization: Bearer TOKEN` (or `?token=`); `samepage token ROOM --secret S` makes
one. Browser pages on other origins may call the API when `--allowed-origin` lists
theirs (CORS)."""


def spec(version: str) -> dict[str, Any]:
    """The whole description."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "samepage",
            "version": version,
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/"}],
        "security": [{}, {"bearer": []}, {"tokenQuery": []}],
        "paths": {**room_paths(), **service_paths()},
        "components": {
            "schemas": SCHEMAS,
            "parameters": {"room": ROOM_PARAM},
            "responses": {
                f"E{status}": {"description": text, "content": {JSON: {"schema": ref("Error")}}}
                for status, text in {**ERRORS, "409": "The new room's name is taken"}.items()
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }
