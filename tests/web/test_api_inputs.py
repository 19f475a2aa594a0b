"""Every HTTP route against odd input, as a table: each answer is the expected status
with a JSON `{"error", "detail"}` body, never a 500, and the server carries on
(its log holds no traceback, the room's content is unchanged)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text
from starlette.routing import Route

from tests.helpers.server import ServerProcess
from web.app import create_app
from web.settings import Settings

ROOM = "inputs"
HEAD = 4
HUGE = "1" + "0" * 29  # 30 digits: past any SQL integer
MAX_UPDATE = 64 * 1024
MAX_EPHEMERAL = 4096


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose room `inputs` holds 4 updates (seq 1..4)."""
    tmp = tmp_path_factory.mktemp("inputs")
    args = ["--max-frame-bytes", str(MAX_UPDATE), "--max-awareness-bytes", str(MAX_EPHEMERAL)]
    with ServerProcess(tmp / "s.db", extra_args=args, log_path=tmp / "server.log") as proc:
        doc: Doc[Any] = Doc()
        text = doc.get("content", type=Text)
        with httpx.Client(base_url=proc.http) as http:
            for word in ["one ", "two ", "three ", "four"]:
                before = doc.get_state()
                text += word
                reply = http.post(f"/api/rooms/{ROOM}/updates", content=doc.get_update(before))
                assert reply.status_code == 200, reply.text
            assert http.get(f"/api/rooms/{ROOM}").json()["seq"] == HEAD
        yield proc


R = f"/api/rooms/{ROOM}"
DEEP = "[" * 100_000 + "]" * 100_000

# (method, path, body: JSON text | bytes | None, status, error code)
CASES: list[tuple[str, str, str | bytes | None, int, str]] = [
    # --- query integers: 30 digits, superscripts, signs, floats, words
    ("GET", f"{R}/content?at={HUGE}", None, 400, "bad_parameter"),
    ("GET", f"{R}/content?at=²", None, 400, "bad_parameter"),
    ("GET", f"{R}/content?at=-1", None, 400, "bad_parameter"),
    ("GET", f"{R}/content?at=1e3", None, 400, "bad_parameter"),
    ("GET", f"{R}/content?at=%D9%A1", None, 400, "bad_parameter"),  # Arabic-Indic 1
    ("GET", f"{R}/content?at=999", None, 404, "no_such_version"),
    ("GET", f"{R}/content?time=yesterday", None, 400, "bad_parameter"),
    ("GET", f"{R}/content?at=1&time=2020-01-01", None, 400, "bad_parameter"),
    ("GET", f"{R}/content?format=pdf", None, 400, "bad_format"),
    ("GET", f"{R}/history?before={HUGE}", None, 400, "bad_parameter"),
    ("GET", f"{R}/history?before=999", None, 404, "no_such_version"),
    ("GET", f"{R}/history?limit=abc", None, 400, "bad_parameter"),
    ("GET", f"{R}/history?limit=0", None, 400, "bad_parameter"),
    ("GET", f"{R}/history?group=hour", None, 400, "bad_parameter"),
    ("GET", f"{R}/updates?after={HUGE}", None, 400, "bad_parameter"),
    ("GET", f"{R}/updates?after=999", None, 404, "no_such_version"),
    ("GET", f"{R}/updates?upto=999", None, 404, "no_such_version"),
    ("GET", f"{R}/updates?upto=²", None, 400, "bad_parameter"),
    ("GET", f"{R}/updates?limit=-1", None, 400, "bad_parameter"),
    ("GET", f"{R}/diff?to={HUGE}", None, 400, "bad_parameter"),
    ("GET", f"{R}/diff?to=²", None, 400, "bad_parameter"),
    ("GET", f"{R}/diff?to=999", None, 404, "no_such_version"),
    ("GET", f"{R}/diff?from=999", None, 404, "no_such_version"),
    ("GET", f"{R}/diff?from=3&to=1", None, 400, "bad_parameter"),
    ("GET", f"{R}/events?heartbeat=nan", None, 400, "bad_heartbeat"),
    ("GET", f"{R}/events?heartbeat=abc", None, 400, "bad_heartbeat"),
    # --- named versions: bodies of the wrong shape or type
    ("POST", f"{R}/versions", "{", 400, "invalid_json"),
    ("POST", f"{R}/versions", "", 400, "invalid_json"),
    ("POST", f"{R}/versions", "[]", 400, "invalid_json"),
    ("POST", f"{R}/versions", b"\xff\xfe", 400, "invalid_json"),
    ("POST", f"{R}/versions", DEEP, 413, "too_large"),
    ("POST", f"{R}/versions", "[" * 20_000 + "]" * 20_000, 400, "invalid_json"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": NaN}', 400, "invalid_json"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": 1e400}', 400, "invalid_json"),
    ("POST", f"{R}/versions", '{"label": null}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": {"a": 1}}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": ""}', 400, "bad_label"),
    ("POST", f"{R}/versions", json.dumps({"label": "x" * 201}), 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": null}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": "abc"}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": "2"}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": 2.5}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": true}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", f'{{"label": "x", "seq": {HUGE}}}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": -5}', 400, "bad_parameter"),
    ("POST", f"{R}/versions", '{"label": "x", "seq": 999}', 404, "no_such_version"),
    # --- restore
    ("POST", f"{R}/restore", "{}", 400, "bad_parameter"),
    ("POST", f"{R}/restore", '{"seq": null}', 400, "bad_parameter"),
    ("POST", f"{R}/restore", '{"seq": "abc"}', 400, "bad_parameter"),
    ("POST", f"{R}/restore", '{"seq": 1e400}', 400, "invalid_json"),
    ("POST", f"{R}/restore", f'{{"seq": {HUGE}}}', 400, "bad_parameter"),
    ("POST", f"{R}/restore", '{"seq": -5}', 400, "bad_parameter"),
    ("POST", f"{R}/restore", '{"seq": 999}', 404, "no_such_version"),
    ("POST", f"{R}/restore", '{"seq": 1, "author": {"name": "x"}}', 400, "bad_parameter"),
    # --- updates and ephemeral messages: sizes and shapes
    ("POST", f"{R}/updates", b"", 400, "empty_update"),
    ("POST", f"{R}/updates", b"\x07garbage", 422, "invalid_update"),
    ("POST", f"{R}/updates", b"\x00" * (MAX_UPDATE + 1), 413, "too_large"),
    ("POST", f"{R}/ephemeral", "{", 400, "invalid_json"),
    ("POST", f"{R}/ephemeral", "NaN", 400, "invalid_json"),
    ("POST", f"{R}/ephemeral", "x" * (MAX_EPHEMERAL + 1), 413, "too_large"),
    ("POST", f"{R}/ephemeral?to=²", "{}", 400, "bad_target"),
    ("POST", f"{R}/ephemeral?to={HUGE}", "{}", 400, "bad_target"),
    ("POST", f"{R}/ephemeral?to=12", "{}", 404, "no_such_client"),
    # --- admin compaction
    ("POST", "/api/admin/compact", '{"keep_every": 1e400}', 400, "invalid_json"),
    ("POST", "/api/admin/compact", '{"keep_every": 0}', 400, "bad_parameter"),
    ("POST", "/api/admin/compact", '{"keep_every": "abc"}', 400, "bad_parameter"),
    ("POST", "/api/admin/compact", f'{{"keep_every": {HUGE}}}', 400, "bad_parameter"),
    ("POST", "/api/admin/compact", '{"older_than": "forever"}', 400, "bad_parameter"),
    ("POST", "/api/admin/compact", '{"older_than": "infd"}', 400, "bad_parameter"),
    ("POST", "/api/admin/compact", '{"rooms": "inputs"}', 400, "bad_parameter"),
    ("POST", "/api/admin/compact", '{"rooms": [1]}', 400, "bad_parameter"),
    ("POST", "/api/admin/compact", '{"rooms": ["../x"]}', 400, "invalid_room_name"),
    # --- forks
    ("POST", f"{R}/fork", '{"to": null}', 400, "bad_parameter"),
    ("POST", f"{R}/fork", '{"to": "x y"}', 400, "invalid_room_name"),
    ("POST", f"{R}/fork", '{"to": "copy", "at": 999}', 404, "no_such_version"),
    ("POST", f"{R}/fork", '{"to": "copy", "at": -1}', 400, "bad_parameter"),
    ("POST", f"{R}/fork", '{"to": "copy", "at": "abc"}', 400, "bad_parameter"),
    ("POST", f"{R}/fork", f'{{"to": "copy", "at": {HUGE}}}', 400, "bad_parameter"),
    ("POST", f"{R}/fork", '{"to": "copy", "at": 1e400}', 400, "invalid_json"),
    ("POST", f"{R}/fork", f'{{"to": "{ROOM}"}}', 409, "room_exists"),
    # --- reset, delete, epochs
    ("POST", f"{R}/reset", '{"keep_history": "no"}', 400, "bad_parameter"),
    ("POST", f"{R}/reset", "[]", 400, "invalid_json"),
    ("DELETE", "/api/rooms/bad%20name", None, 400, "invalid_room_name"),
    ("GET", f"{R}/epochs/{HUGE}/content", None, 404, "no_such_epoch"),
    ("GET", f"{R}/epochs/²/history", None, 404, "no_such_epoch"),
    ("GET", "/api/rooms/bad%20name/epochs", None, 400, "invalid_room_name"),
    ("POST", "/api/admin/cluster", "{}", 405, "method_not_allowed"),
    # --- access rules
    ("POST", "/api/admin/revoke", "{}", 400, "bad_parameter"),
    ("POST", "/api/admin/revoke", '{"jti": null}', 400, "bad_parameter"),
    ("POST", "/api/admin/revoke", '{"jti": "a", "user": "b"}', 400, "bad_parameter"),
    ("POST", "/api/admin/revoke", '{"room": "../x"}', 400, "invalid_room_name"),
    ("POST", "/api/admin/revoke", '{"jti": "a", "expires_at": "soon"}', 400, "bad_parameter"),
    ("POST", "/api/admin/revoke", '{"jti": "a", "expires_at": 1000}', 400, "bad_parameter"),
    (
        "POST",
        "/api/admin/grants",
        '{"user": "a", "room": "x", "perm": "all"}',
        400,
        "bad_parameter",
    ),
    (
        "POST",
        "/api/admin/grants",
        '{"user": {"a": 1}, "room": "x", "perm": "read"}',
        400,
        "bad_parameter",
    ),
    ("POST", "/api/admin/access", "{}", 405, "method_not_allowed"),
    ("POST", "/api/admin/cluster", "{}", 405, "method_not_allowed"),
    ("POST", "/api/admin/webhooks", "{}", 405, "method_not_allowed"),
    # --- room names, and the framework's own errors
    ("GET", "/api/rooms/bad%20name", None, 400, "invalid_room_name"),
    ("GET", "/api/rooms/bad%20name/history", None, 400, "invalid_room_name"),
    ("GET", "/nowhere", None, 404, "not_found"),
    ("GET", "/api/rooms/inputs/nothing", None, 404, "not_found"),
    ("GET", "/static/nothing.js", None, 404, "not_found"),
    ("PUT", R, None, 405, "method_not_allowed"),
    ("GET", f"{R}/restore", None, 405, "method_not_allowed"),
    ("PUT", f"{R}/versions", "{}", 405, "method_not_allowed"),
    ("POST", "/healthz", None, 405, "method_not_allowed"),
    ("GET", "/api/admin/compact", None, 405, "method_not_allowed"),
    ("POST", "/api/admin/stats", None, 405, "method_not_allowed"),
    ("POST", "/api/rooms", "{}", 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), CASES)
def test_odd_input_is_a_json_error(
    srv: ServerProcess, method: str, path: str, body: str | bytes | None, status: int, error: str
) -> None:
    content = body.encode() if isinstance(body, str) else body
    reply = httpx.request(method, srv.http + path, content=content, timeout=30)
    assert reply.status_code == status, reply.text[:300]
    assert reply.headers["content-type"].startswith("application/json")
    answer = reply.json()
    assert answer["error"] == error, answer
    assert isinstance(answer["detail"], str) and answer["detail"]
    if status == 405:
        assert reply.headers["allow"]


def test_every_api_route_is_in_the_table() -> None:
    """A route added later without a row here fails this test."""
    covered = {(m, p.split("?")[0]) for m, p, *_ in CASES}
    app = create_app(Settings(db="memory://"))
    for route in app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/"):
            continue
        pattern = re.compile(re.sub(r"\{\w+\}", "[^/]+", route.path) + "$")
        methods = (route.methods or set()) - {"HEAD"}
        probed = {m for m, p in covered if pattern.match(p)}
        assert probed, f"no row for {route.path}"
        assert "POST" not in methods or "POST" in probed, f"no odd body for POST {route.path}"


def test_odd_cursors_and_good_inputs_still_answer(srv: ServerProcess) -> None:
    """Ignored cursors do not fail a stream; valid values in range still work; a null
    label or a dict author never reaches the store."""
    with httpx.Client(base_url=srv.http, timeout=30) as http:
        for query in ["last_event_id=²", f"last_event_id={HUGE}", "last_event_id=999"]:
            with http.stream("GET", f"{R}/events?{query}") as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
        made = http.post(f"{R}/versions", json={"label": "second", "seq": 2})
        assert made.status_code == 201 and made.json()["seq"] == 2
        assert http.post(f"{R}/versions", json={"label": "head"}).json()["seq"] == HEAD
        labels = [v["label"] for v in http.get(f"{R}/versions").json()]
        assert labels == ["second", "head"] or sorted(labels) == ["head", "second"]
        assert http.get(f"{R}/diff?from=1&to={HEAD}").status_code == 200
        assert http.get(f"{R}/history?before={HEAD + 1}").json()[0]["seq"] == HEAD
        assert len(http.get(f"{R}/updates?after=0&upto={HEAD}").json()) == HEAD
        assert http.get(f"{R}/content").text == "one two three four"
        assert http.get(f"{R}/content?at=2").text == "one two "
    assert "Traceback" not in Path(srv.log_path or "").read_text()


def _read_reply(sock: socket.socket) -> str:
    """One HTTP response with a Content-Length body, read from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        more = sock.recv(4096)
        if not more:
            break
        body += more
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_body_limit_applies_while_the_body_streams(srv: ServerProcess) -> None:
    """A chunked body past the limit is answered 413 before it ends (the server does
    not wait for, or hold, the rest)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(
            f"POST {R}/updates HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"\x00" * 16384
        for _ in range(MAX_UPDATE // len(chunk) + 1):
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        # the final `0\r\n\r\n` is never sent: only a streaming check can answer now
        reply = _read_reply(sock)
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert reply.endswith('"detail":"update over 65536 bytes"}'), reply
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(
            f"POST {R}/updates HTTP/1.1\r\nHost: x\r\nContent-Length: {10**12}\r\n\r\n".encode()
        )
        reply = _read_reply(sock)  # a declared size is refused unread
    assert reply.startswith("HTTP/1.1 413") and '"too_large"' in reply, reply[:300]


async def test_a_crash_is_a_json_500() -> None:
    """An unexpected exception in a route is a JSON 500 (the traceback goes to the log)."""
    app = create_app(Settings(db="memory://"))

    async def boom(_request: Any) -> Any:
        raise RuntimeError("boom")

    app.router.routes.append(Route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        reply = await http.get("/boom")
    assert reply.status_code == 500
    assert reply.json() == {
        "error": "internal_error",
        "detail": "the server failed on this request",
    }
