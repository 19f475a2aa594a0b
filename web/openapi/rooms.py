"""OpenAPI paths of the room routes: rooms, content, history, live."""

from __future__ import annotations

from typing import Any

from web.openapi.base import (
    ANY_OBJECT,
    FORMAT,
    JSON,
    ROOM_PARAM,
    SEQ,
    TIME,
    array,
    json_body,
    obj,
    ok,
    op,
    query,
    ref,
)

EPOCH = {"name": "epoch", "in": "path", "required": True, "schema": {"type": "integer"}}


def room_paths() -> dict[str, Any]:
    """`/api/rooms` and `/api/rooms/{room}/…`."""
    rooms = "/api/rooms/{room}"
    return {
        "/api/rooms": {
            "get": op(
                "List rooms, most recently edited first, a page at a time",
                "rooms",
                {
                    "200": ok(
                        array(ref("Room")),
                        "A page of rooms (the next page: the `Link` header, rel=next)",
                        Link='`<…?cursor=…>; rel="next"`, absent on the last page',
                        **{"X-Samepage-Next-Cursor": "the next page's cursor"},
                    )
                },
                params=[
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        "rooms per page",
                    ),
                    query(
                        "cursor",
                        {"type": "string"},
                        "from the previous page's Link / X-Samepage-Next-Cursor",
                    ),
                    query(
                        "prefix",
                        {"type": "string", "maxLength": 128},
                        "only names starting with this",
                    ),
                ],
                errors="400 401",
                room=False,
            )
        },
        rooms: {
            "delete": op(
                "Delete the room and all its history (admin); the name may be used again",
                "rooms",
                {"200": ok(ANY_OBJECT, "Deleted")},
                errors="400 401 403 503",
            ),
            "get": op(
                "A room: head seq, size, connections, presence, origin",
                "rooms",
                {"200": ok(ref("Room"), "The room")},
                errors="400 401 403",
            ),
        },
        f"{rooms}/content": {
            "get": op(
                "The document now, at a version (`at`) or at a time (`time`)",
                "content",
                {
                    "200": {
                        "description": "The document; `X-Samepage-Seq` is the version served",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            JSON: {"schema": ANY_OBJECT},
                            "application/octet-stream": {
                                "schema": {
                                    "type": "string",
                                    "contentMediaType": "application/octet-stream",
                                }
                            },
                        },
                        "headers": {"X-Samepage-Seq": {"schema": SEQ}},
                    }
                },
                params=[
                    FORMAT,
                    query("at", SEQ, "a seq (0 = empty, up to the head)"),
                    query("time", TIME, "the last version at or before this time"),
                ],
                errors="400 401 403 404 422 503",
            )
        },
        f"{rooms}/updates": {
            "get": op(
                "Stored updates after a seq, base64, for replaying history in a client",
                "history",
                {"200": ok(array(ref("StoredUpdate")), "Oldest first")},
                params=[
                    query("after", SEQ, "exclusive; default 0"),
                    query("upto", SEQ, "inclusive; default the head"),
                    query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 5000}, "at most 5000"
                    ),
                ],
                errors="400 401 403 404",
            ),
            "post": op(
                "Apply, store and broadcast a binary Yjs update (v1)",
                "rooms",
                {"200": ok(ref("Applied"), "Stored as `seq` (`changed` false: nothing new)")},
                params=[
                    {
                        "name": "X-Samepage-Author",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "shown in history (ignored with a token: its user counts)",
                    }
                ],
                body={
                    "application/octet-stream": {
                        "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                    }
                },
                errors="400 401 403 413 422 503",
            ),
        },
        f"{rooms}/history": {
            "get": op(
                "Stored updates newest first (or sessions: bursts of edits by one author)",
                "history",
                {
                    "200": ok(
                        {"oneOf": [array(ref("HistoryRow")), array(ref("Session"))]},
                        "Rows, or sessions with group=session",
                    )
                },
                params=[
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        "rows",
                    ),
                    query("before", SEQ, "exclusive cursor: rows with a smaller seq"),
                    query("group", {"enum": ["session"]}, "one row a session"),
                ],
                errors="400 401 403 404",
            )
        },
        f"{rooms}/diff": {
            "get": op(
                "Every text change between two versions with its author, and the net difference",
                "history",
                {"200": ok(ref("Diff"), "The changes")},
                params=[query("from", SEQ, "default 0"), query("to", SEQ, "default the head")],
                errors="400 401 403 404 422 503",
            )
        },
        f"{rooms}/versions": {
            "get": op(
                "Named versions",
                "history",
                {"200": ok(array(ref("Version")), "Oldest first")},
                errors="400 401 403",
            ),
            "post": op(
                "Name a version (default: the head)",
                "history",
                {"201": ok(ref("Version"), "Named")},
                body=json_body(
                    obj(
                        "label", label={"type": "string", "minLength": 1, "maxLength": 200}, seq=SEQ
                    )
                ),
                errors="400 401 403 404 413",
            ),
        },
        f"{rooms}/restore": {
            "post": op(
                "Make version `seq` current again, as a new edit everyone sees",
                "history",
                {
                    "200": ok(
                        obj(
                            "seq restored changed",
                            seq=SEQ,
                            restored=SEQ,
                            changed={"type": "boolean"},
                        ),
                        "Restored",
                    )
                },
                body=json_body(obj("seq", seq=SEQ, author={"type": "string", "maxLength": 200})),
                errors="400 401 403 404 413 422 503",
            )
        },
        f"{rooms}/fork": {
            "post": op(
                "Copy version `at` (default: the head) into a new room `to`",
                "rooms",
                {
                    "201": ok(ANY_OBJECT, "The new room"),
                    "409": {"$ref": "#/components/responses/E409"},
                },
                body=json_body(obj("to", to=ROOM_PARAM["schema"], at=SEQ)),
                errors="400 401 403 404 413",
            )
        },
        f"{rooms}/events": {
            "get": op(
                "Server-Sent Events: text snapshots and patches (id = seq), presence, heartbeats",
                "live",
                {"200": ok({"type": "string"}, "An event stream", "text/event-stream")},
                params=[
                    query(
                        "heartbeat",
                        {"type": "number", "minimum": 1, "maximum": 60},
                        "seconds between heartbeats",
                    ),
                    query(
                        "last_event_id", SEQ, "resume after this seq (or the Last-Event-ID header)"
                    ),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": SEQ,
                        "description": "what EventSource sends on reconnect",
                    },
                ],
                errors="400 401 403 503",
            )
        },
        f"{rooms}/ephemeral": {
            "post": op(
                "Relay a JSON message to the room's subscribers (or one client), never stored",
                "live",
                {
                    "200": ok(
                        obj("delivered", delivered={"type": "integer"}), "How many received it"
                    )
                },
                params=[query("to", SEQ, "an awareness client id")],
                body=json_body({}),
                errors="400 401 403 404 413",
            )
        },
        f"{rooms}/reset": {
            "post": op(
                "Reset the room to an empty document (admin); clients are closed 4410",
                "rooms",
                {"200": ok(ANY_OBJECT, "The new epoch, and what became of the old one")},
                body=json_body(obj("", keep_history={"type": "boolean", "default": True})),
                errors="400 401 403 413 503",
            )
        },
        f"{rooms}/epochs": {
            "get": op(
                "The room's epochs (lives between resets), oldest first",
                "history",
                {"200": ok(array(ANY_OBJECT), "Epochs")},
                errors="400 401 403",
            )
        },
        f"{rooms}/epochs/{{epoch}}/content": {
            "get": op(
                "A version of an earlier, kept epoch (default: its last)",
                "history",
                {"200": ok({"type": "string"}, "The document", "text/plain")},
                params=[EPOCH, FORMAT, query("at", SEQ, "a seq of that epoch")],
                errors="400 401 403 404 422 503",
            )
        },
        f"{rooms}/epochs/{{epoch}}/history": {
            "get": op(
                "The stored updates of an earlier, kept epoch, newest first",
                "history",
                {"200": ok(array(ref("HistoryRow")), "Rows")},
                params=[
                    EPOCH,
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "rows"),
                    query("before", SEQ, "exclusive cursor"),
                ],
                errors="400 401 403 404",
            )
        },
    }
