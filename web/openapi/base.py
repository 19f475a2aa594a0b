"""The building blocks of the OpenAPI description: schema and operation helpers, the
shared schemas, error answers and parameters."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
SEQ = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
TIME = {"type": "string", "format": "date-time"}
ERRORS = {
    "400": "Bad input: a malformed parameter or body (`error` names the kind)",
    "401": "No token, or a token that is malformed, expired or revoked (with --secret)",
    "403": "The token does not grant this room, or not writing, or not /admin",
    "404": "No such version (a seq past the head), route or client",
    "405": "The route does not take this method (`Allow` lists the ones it does)",
    "413": "The body is over the limit (refused while it streams in)",
    "422": "The update or document cannot be applied or rendered",
    "503": "The store, a room or the server is unavailable; retry",
}


def ref(name: str) -> dict[str, str]:
    """A reference to a schema of the components."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: str = "", **props: Any) -> dict[str, Any]:
    """An object schema; `required` lists property names separated by spaces."""
    return {"type": "object", "properties": props, "required": required.split()}


def array(items: dict[str, Any]) -> dict[str, Any]:
    """An array schema."""
    return {"type": "array", "items": items}


def query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


def ok(schema: dict[str, Any] | None, text: str, media: str = JSON, **headers: str) -> Any:
    """A success response (no body when `schema` is None)."""
    answer: dict[str, Any] = {"description": text}
    if schema is not None:
        answer["content"] = {media: {"schema": schema}}
    if headers:
        answer["headers"] = {
            h: {"schema": {"type": "string"}, "description": d} for h, d in headers.items()
        }
    return answer


def op(
    summary: str,
    tag: str,
    answers: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    errors: str = "400 404",
    room: bool = True,
) -> dict[str, Any]:
    """One operation: its parameters, body, answers and the error statuses it uses."""
    parameters = list(params or [])
    if room:
        parameters.insert(0, {"$ref": "#/components/parameters/room"})
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": dict(answers)}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    for status in errors.split():
        operation["responses"][status] = {"$ref": f"#/components/responses/E{status}"}
    return operation


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON request body."""
    return {JSON: {"schema": schema}}


SCHEMAS: dict[str, Any] = {
    "Error": obj(
        "error detail",
        error={"type": "string", "description": "a stable code, e.g. bad_parameter"},
        detail={"type": "string", "description": "for people"},
    ),
    "Room": obj(
        "name seq bytes connections",
        name={"type": "string"},
        seq={**SEQ, "description": "the newest stored update (the head)"},
        bytes={"type": "integer"},
        epoch={"type": "integer", "description": "bumped by a reset"},
        connections={"type": "integer"},
        created_at={"type": ["string", "null"], "format": "date-time"},
        updated_at={"type": ["string", "null"], "format": "date-time"},
    ),
    "HistoryRow": obj(
        "seq time author bytes",
        seq=SEQ,
        time=TIME,
        author={"type": "string"},
        bytes={"type": "integer"},
    ),
    "Session": obj(
        "author first_seq last_seq start end",
        author={"type": "string"},
        first_seq=SEQ,
        last_seq=SEQ,
        start=TIME,
        end=TIME,
        updates={"type": "integer"},
        bytes={"type": "integer"},
    ),
    "StoredUpdate": obj(
        "seq time author update",
        seq=SEQ,
        time=TIME,
        author={"type": "string"},
        update={"type": "string", "contentEncoding": "base64", "description": "a Yjs update (v1)"},
    ),
    "Version": obj(
        "seq label author time",
        seq=SEQ,
        label={"type": "string"},
        author={"type": "string"},
        time=TIME,
    ),
    "Diff": obj(
        "from_seq to_seq changes net",
        from_seq=SEQ,
        to_seq=SEQ,
        from_text={"type": "string"},
        to_text={"type": "string"},
        changes=array(
            obj(
                "seq author time kind index",
                seq=SEQ,
                author={"type": "string"},
                time=TIME,
                kind={"enum": ["insert", "delete"]},
                index={"type": "integer", "description": "in code points"},
                text={"type": "string"},
                length={"type": "integer"},
            )
        ),
        net=array({"type": "object"}),
        truncated={"type": "boolean"},
    ),
    "Applied": obj("seq changed", seq=SEQ, changed={"type": "boolean"}),
}

ROOM_PARAM = {
    "name": "room",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"},
}
FORMAT = query(
    "format",
    {"enum": ["text", "json", "yjs"], "default": "text"},
    "text, JSON of every root, or a Yjs update",
)
ANY_OBJECT = {"type": "object"}
HTML = {"type": "string"}
