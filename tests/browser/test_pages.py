"""The page routes over HTTP (no browser): status codes, headers, room-name checks."""

from __future__ import annotations

import httpx

from tests.helpers.server import ServerProcess


def test_pages_and_static_files(server: ServerProcess) -> None:
    """Landing, editor, embed, service worker and the bundle are served."""
    with httpx.Client(base_url=server.http) as client:
        home = client.get("/")
        assert home.status_code == 200 and 'id="open-room"' in home.text
        editor = client.get("/r/team-notes.v2")
        assert editor.status_code == 200
        assert 'data-room="team-notes.v2"' in editor.text and 'class="topbar"' in editor.text
        assert "frame-ancestors 'self'" in editor.headers["content-security-policy"]
        embed = client.get("/embed/team-notes.v2")
        assert embed.status_code == 200 and 'class="topbar"' not in embed.text
        assert "frame-ancestors *" in embed.headers["content-security-policy"]
        for asset in ("editor.js", "home.js", "samepage.css", "THIRD_PARTY_LICENSES.txt"):
            assert client.get(f"/static/{asset}").status_code == 200, asset
        bundle = client.get("/static/editor.js", headers={"Accept-Encoding": "gzip"})
        assert bundle.headers["content-encoding"] == "gzip"
        worker = client.get("/sw.js")
        assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]


def test_assets_are_versioned_by_content(server: ServerProcess) -> None:
    """Script and style URLs carry a content hash so a new build is never mixed with old."""
    page = httpx.get(f"{server.http}/r/x").text
    assert "/static/editor.js?v=" in page and "/static/samepage.css?v=" in page
    assert "?v=dev" not in page


def test_bad_room_names_get_an_html_404(server: ServerProcess) -> None:
    """Names outside ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ are refused with a page."""
    with httpx.Client(base_url=server.http) as client:
        for path in (
            "/r/-leading-dash",
            "/r/has%20space",
            "/embed/a%3Cb",
            "/r/a/b",
            "/r/" + "x" * 129,
        ):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert "<script" not in response.text.split("</head>")[1], path
