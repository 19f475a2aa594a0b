"""CORS follows `--allowed-origin` (preflight answered, other origins refused), and
`GET /api/rooms` pages by cursor and filters by prefix, with and without tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from tests.helpers.server import TEST_SECRET, ServerProcess, module_server
from web.auth import issue_token

ALLOWED = "https://app.example"
NAMES = [f"team-{n:02d}" for n in range(7)] + ["team_x", "other-1", "other-2"]


def update(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, text)
    return doc.get_update()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory.mktemp("cors"), "--allowed-origin", ALLOWED)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory.mktemp("list"), "--secret", TEST_SECRET)


def fill(server: ServerProcess, headers: dict[str, str] | None = None) -> None:
    with httpx.Client(base_url=server.http, headers=headers, timeout=10) as http:
        for name in NAMES:
            assert http.post(f"/api/rooms/{name}/updates", content=update(name)).status_code == 200


def preflight(server: ServerProcess, origin: str, path: str = "/api/rooms/a/versions") -> Any:
    return httpx.options(
        server.http + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_preflight_from_an_allowed_origin_is_answered(srv: ServerProcess) -> None:
    reply = preflight(srv, ALLOWED)
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in reply.headers["access-control-allow-methods"]
    allowed_headers = reply.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert reply.headers["vary"] == "Origin"


def test_other_origins_get_a_json_403_and_no_cors_headers(srv: ServerProcess) -> None:
    reply = preflight(srv, "https://evil.example")
    assert reply.status_code == 403 and reply.json()["error"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in reply.headers
    plain = httpx.get(f"{srv.http}/api/rooms", headers={"Origin": "https://evil.example"})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


def test_allowed_origin_reads_answers_and_their_headers(srv: ServerProcess) -> None:
    fill(srv)
    reply = httpx.get(f"{srv.http}/api/rooms?limit=2", headers={"Origin": ALLOWED})
    assert reply.headers["access-control-allow-origin"] == ALLOWED
    exposed = reply.headers["access-control-expose-headers"]
    assert "Link" in exposed and "X-Samepage-Next-Cursor" in exposed and "X-Samepage-Seq" in exposed
    error = httpx.get(f"{srv.http}/api/rooms/a/content?at=x", headers={"Origin": ALLOWED})
    assert error.status_code == 400 and error.headers["access-control-allow-origin"] == ALLOWED


def test_without_allowed_origins_a_cross_origin_preflight_is_refused(
    secured: ServerProcess,
) -> None:
    assert preflight(secured, "https://app.example").status_code == 403
    same = preflight(secured, f"http://127.0.0.1:{secured.port}")  # the page's own origin
    assert same.status_code == 204


def pages(server: ServerProcess, query: str, token: str | None = None) -> list[list[str]]:
    """Every page of `GET /api/rooms?QUERY`, following the Link header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url: str | None = f"/api/rooms?{query}"
    found: list[list[str]] = []
    with httpx.Client(base_url=server.http, headers=headers, timeout=10) as http:
        while url is not None:
            reply = http.get(url)
            assert reply.status_code == 200, reply.text
            found.append([room["name"] for room in reply.json()])
            link = reply.headers.get("link")
            assert (link is None) == ("x-samepage-next-cursor" not in reply.headers)
            url = link.split(">")[0].lstrip("<") if link else None
    return found


def test_room_list_pages_by_cursor_and_filters_by_prefix(srv: ServerProcess) -> None:
    everything = httpx.get(f"{srv.http}/api/rooms").json()
    names = [room["name"] for room in everything]
    assert sorted(names) == sorted(NAMES)
    assert names == list(reversed(NAMES))  # most recently edited first
    paged = pages(srv, "limit=3")
    assert [len(p) for p in paged] == [3, 3, 3, 1]
    assert [n for page in paged for n in page] == names
    teams = pages(srv, "limit=4&prefix=team-")
    assert [len(p) for p in teams] == [4, 3]
    assert sorted(n for page in teams for n in page) == [f"team-{n:02d}" for n in range(7)]
    assert pages(srv, "prefix=team_") == [["team_x"]]  # `_` is not a wildcard
    assert pages(srv, "prefix=nothing") == [[]]
    bad = httpx.get(f"{srv.http}/api/rooms?cursor=not-a-cursor")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_parameter"


def test_with_tokens_pages_hold_only_granted_rooms(secured: ServerProcess) -> None:
    admin = issue_token(TEST_SECRET, "*", user="admin")
    fill(secured, {"Authorization": f"Bearer {admin}"})
    others = issue_token(TEST_SECRET, "other-*", user="o")
    paged = pages(secured, "limit=1", others)
    assert [n for page in paged for n in page] == ["other-2", "other-1"]
    assert httpx.get(f"{secured.http}/api/rooms").status_code == 401
